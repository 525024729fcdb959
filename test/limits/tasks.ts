/**
 * The tasks of the group-limit suite, shared by the test (which enqueues them) and its worker
 * processes (which run them). Each handler records its run in `<table>_runs`: the claim's time
 * from the database clock (the row's `updatedAt` as claimed), and the handler's start and end.
 */
import { defineTask, type TaskContext } from '@gta/core';
import type pg from 'pg';

export const GROUP_LIMIT = 3;
export const RATE_LIMIT = { limit: 20, periodMs: 1000 };

export interface Work {
  tenant: string;
  ms: number;
}

export function limitTasks(pool: pg.Pool | null, table: string, worker: string) {
  const run = async ({ tenant, ms }: Work, ctx: TaskContext) => {
    if (!pool) throw new Error('this manager only enqueues');
    const values = [ctx.task.id, ctx.task.key, tenant, worker, ctx.task.updatedAt];
    await pool.query(
      `insert into ${table}_runs (task_id, task_key, tenant, worker, claimed_at, started_at)
       values ($1, $2, $3, $4, $5, clock_timestamp())`,
      values,
    );
    await new Promise((resolve) => setTimeout(resolve, ms));
    await pool.query(`update ${table}_runs set finished_at = clock_timestamp() where task_id = $1`, [
      ctx.task.id,
    ]);
  };
  return {
    limited: defineTask({
      key: 'limited',
      concurrency: { limit: GROUP_LIMIT, key: (arg: Work) => arg.tenant },
      handler: run,
    }),
    free: defineTask({ key: 'free', handler: run }),
    rated: defineTask({ key: 'rated', rateLimit: RATE_LIMIT, handler: run }),
  };
}

export const RUNS_TABLE_SQL = (table: string) => `
  create table ${table}_runs (
    task_id bigint not null,
    task_key text not null,
    tenant text not null,
    worker text not null,
    claimed_at timestamptz not null,
    started_at timestamptz not null,
    finished_at timestamptz
  )`;
