/**
 * The chaos database: a fresh Postgres database per scenario, the task table, a side table where
 * handlers record each execution, and a trigger that records which lease token completed each
 * task — written by the database itself, so a stale completion cannot hide.
 */
import { createTaskManager, defineTask, migrate, silentLogger } from '@gta/core';
import { drizzle } from 'drizzle-orm/node-postgres';
import type pg from 'pg';
import { createPostgresDatabase, type TestDatabase } from '../../../core/test/support/databases.js';
import { CHAOS_LEASE_MARGIN_MS, CHAOS_TABLE, CHAOS_TASK_TIMEOUT_MS } from '../settings.js';
import { resilientPool } from './loops.js';

export interface ChaosDatabase {
  database: TestDatabase;
  url: string;
  /** A pool for the controller's own queries and enqueues. */
  pool: pg.Pool;
  close(): Promise<void>;
}

export async function openChaosDatabase(): Promise<ChaosDatabase> {
  const database = await createPostgresDatabase({ poolSize: 4 });
  // Faults terminate idle connections too; the pool drops them, and nothing else is to be done.
  const own = database.db.$client as pg.Pool;
  own.on('error', () => {});
  own.on('connect', (client) => client.on('error', () => {}));
  const url = database.url!;
  await migrate(database.db, { table: CHAOS_TABLE });
  await database.exec(`
    create table executions (
      task_id bigint not null,
      lease_token uuid,
      worker text not null,
      started_at timestamptz not null default clock_timestamp(),
      finished_at timestamptz
    );
    create index on executions (task_id);
    create table completions (
      task_id bigint not null,
      lease_token uuid,
      completed_at timestamptz not null default clock_timestamp()
    );
    create function record_completion() returns trigger language plpgsql as $$
    begin
      if old.status = 'running' and new.status = 'succeeded' then
        insert into completions (task_id, lease_token) values (old.id, old.lease_token);
      end if;
      return new;
    end $$;
    create trigger record_completion after update on ${CHAOS_TABLE}
      for each row execute function record_completion();
  `);
  const pool = resilientPool(url);
  return {
    database,
    url,
    pool,
    close: async () => {
      await pool.end();
      await database.close();
    },
  };
}

export function drizzleOn(pool: pg.Pool) {
  return drizzle(pool);
}

/** How many tasks are in each status. */
export async function statusCounts(pool: pg.Pool): Promise<Record<string, number>> {
  const { rows } = await pool.query<{ status: string; count: number }>(
    `select status, count(*)::int as count from ${CHAOS_TABLE} where task_key not like 'gta:%' group by status`,
  );
  return Object.fromEntries(rows.map((row) => [row.status, row.count]));
}

/**
 * Enqueues `count` tasks of the workers' key `chaos` with `retryTimes` (stored with each task at
 * enqueue time, so it is what the workers go by), in foreign transactions of 1,000, so that no
 * commit hook runs them: they wait for the workers' ticks.
 */
export async function enqueueBacklog(pool: pg.Pool, count: number, retryTimes: number): Promise<void> {
  const chaos = defineTask({ key: 'chaos', retryTimes, handler: () => {} });
  const db = drizzleOn(pool);
  const producer = createTaskManager({
    db,
    table: CHAOS_TABLE,
    tasks: [chaos],
    logger: silentLogger,
    taskTimeout: CHAOS_TASK_TIMEOUT_MS,
    leaseMargin: CHAOS_LEASE_MARGIN_MS,
  });
  for (let offset = 0; offset < count; offset += 1000) {
    const size = Math.min(1000, count - offset);
    await db.transaction((tx) =>
      producer.enqueueMany(
        chaos,
        Array.from({ length: size }, (_, i) => ({ n: offset + i })),
        { tx },
      ),
    );
  }
}
