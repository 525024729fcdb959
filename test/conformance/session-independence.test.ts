/**
 * What keeps gta working behind PgBouncer in transaction mode (Neon's pooled connection string):
 * no statement it sends relies on the server session outliving a transaction. Everything gta sends
 * during a full life cycle (migrate, every enqueue form, commit hook, tick with maintenance, retries,
 * nested tasks, the runner and its graceful stop, the operator's queries) is recorded, on an
 * interactive driver (through drizzle's logger) and on neon-http (at its client, as drizzle's batch
 * path logs nothing; there migrations take that path), and checked for LISTEN/NOTIFY, session
 * settings, session-level advisory locks, temporary tables, prepared statements and cursors.
 */

import { createTaskManager, defineTask, type SqlExecutor, silentLogger } from '@gta/core';
import { neon } from '@neondatabase/serverless';
import { drizzle as drizzleNeonHttp } from 'drizzle-orm/neon-http';
import { drizzle as drizzleNodePostgres } from 'drizzle-orm/node-postgres';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { endPool, postgresAvailable, type TestDatabase } from '../../core/test/support/databases.js';
import { neonHttp } from '../support/drivers.js';

const hasPostgres = await postgresAvailable();

/** Statement shapes that depend on the session outliving the transaction, and why each does. */
const SESSION_BOUND: [RegExp, string][] = [
  [/\b(listen|unlisten|notify)\b|pg_notify\s*\(/i, 'LISTEN/NOTIFY needs one session for the whole wait'],
  [
    // SET LOCAL and set_config(…, true) end with their transaction; the others stay on the session.
    /^\s*(set(?!\s+local\b)|reset|discard)\b|set_config\s*\([^)]*,\s*false\s*\)/i,
    'a session setting stays on a server connection others reuse',
  ],
  [/pg_(try_)?advisory_(?!xact_)\w*\s*\(/i, 'a session advisory lock outlives the transaction'],
  [/\bcreate\s+(temp|temporary)\b/i, 'a temporary table belongs to one session'],
  [/^\s*(prepare|execute|deallocate)\b/i, 'a named prepared statement belongs to one session'],
  [/\bdeclare\b[\s\S]*\bcursor\b/i, 'a cursor belongs to one session'],
];

/** Runs every kind of work gta does on `db`; `manager.transaction` only where the driver has it. */
async function fullLifeCycle(
  db: SqlExecutor,
  { interactiveTransactions }: { interactiveTransactions: boolean },
) {
  let flaky = true;
  const child = defineTask({ key: 'child', handler: () => {} });
  const parent = defineTask({
    key: 'parent',
    retryTimes: 1,
    retryInterval: () => 0,
    handler: (_arg: unknown, ctx) => {
      ctx.enqueue(child, {});
      if (flaky) {
        flaky = false;
        throw new Error('first attempt fails');
      }
    },
  });
  const slow = defineTask({
    key: 'slow',
    handler: (_arg: unknown, ctx) => new Promise((resolve) => ctx.signal.addEventListener('abort', resolve)),
  });
  const options = { db, tasks: [parent, child, slow], logger: silentLogger, maintenanceInterval: 1 };
  const manager = createTaskManager({
    ...options,
    scanInterval: 20,
    instantScanInterval: 5,
    waitTimeout: 20,
  });
  const cutShort = createTaskManager({ ...options, signal: AbortSignal.abort() });
  await manager.migrate();
  await manager.enqueue(parent, {}, { dedupeKey: 'once', sequenceKey: 'chain', context: { trace: 't' } });
  await manager.enqueue(parent, {}, { dedupeKey: 'once' });
  if (interactiveTransactions) {
    await manager.transaction((tx) => manager.enqueueMany(child, [{}, {}], { tx }));
  }
  await cutShort.enqueueMany(child, [{}, {}], { delayMs: 0 });
  await manager.tick({ budgetMs: 2000 });
  await cutShort.enqueue(slow, {});
  manager.start();
  while ((await manager.stats()).byStatus.running === 0)
    await new Promise((resolve) => setTimeout(resolve, 5));
  await manager.stop({ wait: true });
  // The slow task outlived waitTimeout, so the stop released it back to initialized.
  const [released] = await manager.queryUnsuccessfulTasks();
  expect(released).toMatchObject({ key: 'slow', status: 'initialized' });
  await manager.forceRerunTasks([released!.id], 'initialized');
  await manager.cancelTask(released!.id, 'not needed');
  await manager.getTask(released!.id);
  await manager.listTasks({ status: ['initialized', 'failed'], key: 'slow', limit: 10 });
  await manager.abnormalTasks();
  await manager.throughput({ minutes: 5 });
}

describe.skipIf(!hasPostgres)(
  'no statement gta sends depends on the session (PgBouncer transaction mode)',
  () => {
    let database: TestDatabase;
    beforeAll(async () => {
      // neon-http's database also points the Neon driver at a local proxy, which the logged client below uses.
      database = await neonHttp.open();
    });
    afterAll(() => database?.close());

    it('tells session-bound statements from transaction-scoped ones', () => {
      const bound = (text: string) => SESSION_BOUND.some(([shape]) => shape.test(text));
      for (const text of [
        'set statement_timeout = 0',
        "select set_config('search_path', 'x', false)",
        'listen gta',
        'prepare q as select 1',
        'select pg_advisory_lock(1)',
      ]) {
        expect(bound(text), text).toBe(true);
      }
      for (const text of [
        'set local statement_timeout = 0',
        "update t set a = 1 from (select set_config('synchronous_commit', 'off', true)) as s",
        'select pg_advisory_xact_lock(1)',
      ]) {
        expect(bound(text), text).toBe(false);
      }
    });

    function expectSessionFree(statements: string[]): void {
      // The record really covers migrations, claims and lease rescue.
      for (const marker of [
        /pg_advisory_xact_lock/,
        /for update skip locked/i,
        /lease expired during attempt/,
      ]) {
        expect(statements.some((text) => marker.test(text))).toBe(true);
      }
      const offending = statements.flatMap((text) =>
        SESSION_BOUND.filter(([shape]) => shape.test(text)).map(([, why]) => `${why}: ${text}`),
      );
      expect(offending).toEqual([]);
    }

    it('on node-postgres, transactions included', async () => {
      const statements: string[] = [];
      const logger = { logQuery: (query: string) => void statements.push(query) };
      const pool = new pg.Pool({ connectionString: database.url!, max: 5 });
      try {
        await fullLifeCycle(drizzleNodePostgres({ client: pool, logger }), { interactiveTransactions: true });
      } finally {
        await endPool(pool);
      }
      expectSessionFree(statements);
    });

    it('on neon-http, where migrations go through db.batch', async () => {
      const statements: string[] = [];
      const client = neon(database.url!);
      const query = client.query;
      // drizzle sends every statement, batched or not, through the client's query function.
      client.query = (text, params, options) => {
        statements.push(text);
        return query(text, params, options);
      };
      await database.exec('drop table if exists gta_tasks, gta_tasks_migrations');
      await fullLifeCycle(drizzleNeonHttp({ client }), { interactiveTransactions: false });
      expectSessionFree(statements);
    });
  },
);
