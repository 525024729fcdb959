/**
 * The local Neon proxy, driven by the real `@neondatabase/serverless` code: its WebSocket tunnel
 * carries the `Client` path, its SQL-over-HTTP endpoint answers `neon()` (single queries and
 * transaction batches) with values the driver's own type parsers decode, and it reaches only the
 * Postgres server it was given.
 */

import net, { type AddressInfo } from 'node:net';
import * as neonProxy from '@gta/neon-proxy';
import { Client as NeonClient, type NeonDbError, neon } from '@neondatabase/serverless';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { POSTGRES_URL, postgresAvailable } from '../../core/test/support/databases.js';
import { useNeonProxy } from '../support/drivers.js';

const hasPostgres = await postgresAvailable();

describe.skipIf(!hasPostgres)('the local Neon proxy', () => {
  let proxy: neonProxy.NeonProxy;
  beforeAll(async () => {
    proxy = await neonProxy.start({ postgresUrl: POSTGRES_URL });
    useNeonProxy(proxy);
  });
  afterAll(() => proxy?.close());

  describe('WebSocket tunnel (Pool/Client, drizzle-orm/neon-serverless)', () => {
    it('carries a Neon Client session to Postgres, transactions included', async () => {
      const client = new NeonClient(POSTGRES_URL);
      await client.connect();
      try {
        await client.query('begin');
        await client.query('create temporary table tunnel_check (n int) on commit drop');
        await client.query('insert into tunnel_check values ($1), ($2)', [1, 2]);
        const { rows } = await client.query(
          'select sum(n)::int as total, current_setting($1) as app from tunnel_check',
          ['application_name'],
        );
        await client.query('commit');
        // The Neon driver names itself, so this session is the driver's, not some other client's.
        expect(rows).toEqual([{ total: 3, app: expect.stringContaining('neondatabase/serverless') }]);
      } finally {
        await client.end();
      }
    });

    it('refuses to tunnel anywhere but the allowed Postgres server', async () => {
      let reached = 0;
      const elsewhere = net.createServer((socket) => {
        reached++;
        socket.destroy();
      });
      await new Promise<void>((resolve) => elsewhere.listen(0, '127.0.0.1', resolve));
      try {
        const { port } = elsewhere.address() as AddressInfo;
        const client = new NeonClient(`postgres://postgres@127.0.0.1:${port}/test`);
        client.on('error', () => {});
        await expect(client.connect()).rejects.toBeTruthy();
        expect(reached).toBe(0);
      } finally {
        await new Promise((resolve) => elsewhere.close(resolve));
      }
    });
  });

  describe('SQL over HTTP (neon(), drizzle-orm/neon-http)', () => {
    it('answers with the server’s type OIDs, so the driver parses every value as it would from Neon', async () => {
      const sql = neon(POSTGRES_URL);
      const [row] = await sql.query(
        `select 7::int4 as int4, 9007199254740993::int8 as int8, 1.5::float8 as float8, true as bool,
           '{"a":[1,"x"]}'::jsonb as jsonb, null::text as nothing, '2026-01-02T03:04:05Z'::timestamptz as at,
           array[1, 2]::int4[] as ints, $1::text as echoed, $2::bytea as bytes`,
        ['ünïcode ✓', Buffer.from([0, 255])],
      );
      expect(row).toEqual({
        int4: 7,
        int8: '9007199254740993',
        float8: 1.5,
        bool: true,
        jsonb: { a: [1, 'x'] },
        nothing: null,
        at: new Date('2026-01-02T03:04:05Z'),
        ints: [1, 2],
        echoed: 'ünïcode ✓',
        bytes: Buffer.from([0, 255]),
      });
    });

    it('gives full results (command, rowCount, fields) when asked', async () => {
      const sql = neon(POSTGRES_URL, { fullResults: true });
      const result = await sql.query('select 1 as one union all select 2');
      expect(result).toMatchObject({ command: 'SELECT', rowCount: 2, rows: [{ one: 1 }, { one: 2 }] });
      expect(result.fields).toEqual([expect.objectContaining({ name: 'one', dataTypeID: 23 })]);
    });

    it('reports a failed statement as a NeonDbError carrying the server’s error fields', async () => {
      const sql = neon(POSTGRES_URL);
      const error = await sql.query('select * from no_such_table').catch((thrown: NeonDbError) => thrown);
      expect(error).toMatchObject({ name: 'NeonDbError', code: '42P01', severity: 'ERROR' });
      expect(String(error)).toContain('no_such_table');
    });

    it('runs one statement per request, as Neon does: several in one string are refused', async () => {
      const sql = neon(POSTGRES_URL);
      await expect(sql.query('select 1; select 2')).rejects.toMatchObject({ code: '42601' });
    });

    it('runs a batch as one transaction: all of it commits, or none of it', async () => {
      const sql = neon(POSTGRES_URL);
      const table = `proxy_batch_${process.pid}`;
      await sql.query(`create table ${table} (n int primary key)`);
      try {
        const [, , count] = await sql.transaction([
          sql.query(`insert into ${table} values (1)`),
          sql.query(`insert into ${table} values (2)`),
          sql.query(`select count(*)::int as count from ${table}`),
        ]);
        expect(count).toEqual([{ count: 2 }]);
        await expect(
          sql.transaction([
            sql.query(`insert into ${table} values (3)`),
            sql.query(`insert into ${table} values (1)`),
          ]),
        ).rejects.toMatchObject({ code: '23505' });
        expect(await sql.query(`select n from ${table} order by n`)).toEqual([{ n: 1 }, { n: 2 }]);
      } finally {
        await sql.query(`drop table ${table}`);
      }
    });

    it('applies a batch’s isolation level and read-only mode', async () => {
      const sql = neon(POSTGRES_URL);
      const results = await sql.transaction(
        [sql.query('show transaction_isolation'), sql.query('show transaction_read_only')],
        { isolationLevel: 'Serializable', readOnly: true },
      );
      expect(results).toEqual([
        [{ transaction_isolation: 'serializable' }],
        [{ transaction_read_only: 'on' }],
      ]);
    });

    it('refuses connection strings for any other server', async () => {
      const sql = neon('postgres://postgres@192.0.2.1:5432/test');
      await expect(sql.query('select 1')).rejects.toThrow('only 127.0.0.1:5432 is reachable');
    });
  });
});
