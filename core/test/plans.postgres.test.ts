/**
 * The plans of the executor's batched writes, read with EXPLAIN on real Postgres: a batch must
 * find its rows by primary key, one lookup per lease, whatever the table's statistics say. Plans,
 * not timings, so the test holds on a slow machine; the speed itself is measured by the bench.
 */
import { type SQL, sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrate } from '../src/index.js';
import { completeTasks, writeBatch } from '../src/storage/index.js';
import type { SqlExecutor } from '../src/types.js';
import { createPostgresDatabase, postgresAvailable, type TestDatabase } from './support/databases.js';

const hasPostgres = await postgresAvailable();

const TOKEN = '11e2d16e-39fa-4915-8ade-eb8d9cb311a5';
const TASKS = 3000;
const RUNNING = 1500;

interface PlanNode {
  'Node Type': string;
  'Index Name'?: string;
  Plans?: PlanNode[];
}

/** Every index scan of a plan, as `node type on index`. */
function indexScans(node: PlanNode): string[] {
  const own = node['Index Name'] ? [`${node['Node Type']} on ${node['Index Name']}`] : [];
  return [...own, ...(node.Plans ?? []).flatMap(indexScans)];
}

describe.skipIf(!hasPostgres)('plans of the batched writes', () => {
  let database: TestDatabase;
  const table = `plans_${process.pid}`;

  beforeAll(async () => {
    database = await createPostgresDatabase();
    await migrate(database.db, { table });
    await database.query(
      `insert into "${table}" (task_key, arg, max_attempts, timeout_ms, run_at, created_at, updated_at)
       select 'noop', jsonb_build_object('i', i), 1, 60000, now(), now(), now() from generate_series(1, ${TASKS}) i`,
    );
    // Statistics taken before the claims count no running task, as a drain's table has them.
    await database.query(`vacuum analyze "${table}"`);
    await database.query(
      `update "${table}" set status = 'running', attempts = 1, lease_token = '${TOKEN}',
         lease_expires_at = now() + interval '1 hour' where id <= ${RUNNING}`,
    );
  });
  afterAll(async () => {
    await database?.query(`drop table if exists "${table}"`);
    await database?.close();
  });

  /** A storage context whose statements are explained, not run; `plans` collects their plans. */
  function explaining() {
    const plans: PlanNode[] = [];
    const db = {
      execute: async (query: SQL) => {
        const result = (await database.db.execute(sql`explain (format json) ${query}`)) as {
          rows: { 'QUERY PLAN': { Plan: PlanNode }[] }[];
        };
        plans.push(result.rows[0]!['QUERY PLAN'][0]!.Plan);
        return { rows: [] };
      },
    } as unknown as SqlExecutor;
    return { context: { db, table, clock: undefined }, plans };
  }

  const leases = Array.from({ length: 300 }, (_, i) => ({ id: 601 + i, leaseToken: TOKEN }));

  // Guarantee: a batch of successes reads its rows by primary key, not every running row.
  it('finds the rows of a batch of successes by primary key', async () => {
    const { context, plans } = explaining();
    await completeTasks(
      context,
      leases.map((lease) => ({ ...lease, startedAgoMs: 1, deleteRow: false })),
    );
    expect(plans).toHaveLength(1);
    const scans = indexScans(plans[0]!);
    expect(scans).toContain(`Index Scan on ${table}_pkey`);
    expect(scans.filter((scan) => scan.includes('_lease_idx'))).toEqual([]);
  });

  // Guarantee: start records and lease renewals read their rows by primary key as well.
  it('finds the rows of start records and lease renewals by primary key', async () => {
    const { context, plans } = explaining();
    await writeBatch(context, {
      successes: [],
      starts: leases.map((lease) => ({ ...lease, agoMs: 1 })),
      renewals: { leases, leaseMs: 30_000 },
      claim: undefined,
    });
    expect(plans).toHaveLength(1);
    const scans = indexScans(plans[0]!);
    expect(scans.filter((scan) => scan === `Index Scan on ${table}_pkey`)).toHaveLength(2);
    expect(scans.filter((scan) => scan.includes('_lease_idx'))).toEqual([]);
  });
});
