/**
 * One chaos worker: a Node process that loops `tick()` like a serverless instance fired by cron,
 * recording every execution in the side table before and after the handler's work.
 */
import { createTaskManager, defineTask, silentLogger } from '@gta/core';
import { drizzle } from 'drizzle-orm/node-postgres';
import pg from 'pg';
import { CHAOS_LEASE_MARGIN_MS, CHAOS_RETRY_TIMES, CHAOS_TABLE, CHAOS_TASK_TIMEOUT_MS } from './settings.js';

const env = (name: string) => {
  const value = process.env[name];
  if (value === undefined) throw new Error(`${name} is not set`);
  return value;
};

const worker = env('CHAOS_WORKER');
const maxHandlerMs = Number(env('CHAOS_MAX_HANDLER_MS'));
const pool = new pg.Pool({ connectionString: env('CHAOS_URL'), max: 4 });
// A terminated backend reports through the pool; the tick that used it fails and the loop goes on.
pool.on('error', () => {});

const chaos = defineTask({
  key: 'chaos',
  retryTimes: CHAOS_RETRY_TIMES,
  retryInterval: () => 0,
  handler: async (_arg: { n: number }, ctx) => {
    const token = ctx.task.leaseToken;
    await pool.query('insert into executions (task_id, lease_token, worker) values ($1, $2, $3)', [
      ctx.task.id,
      token,
      worker,
    ]);
    await new Promise((resolve) => setTimeout(resolve, Math.random() * maxHandlerMs));
    await pool.query(
      'update executions set finished_at = clock_timestamp() where task_id = $1 and lease_token = $2',
      [ctx.task.id, token],
    );
  },
});

const manager = createTaskManager({
  db: drizzle(pool),
  table: CHAOS_TABLE,
  tasks: [chaos],
  logger: silentLogger,
  concurrency: Number(env('CHAOS_CONCURRENCY')),
  taskTimeout: CHAOS_TASK_TIMEOUT_MS,
  leaseMargin: CHAOS_LEASE_MARGIN_MS,
  maintenanceInterval: 1000,
});

let stopping = false;
process.on('SIGTERM', () => {
  stopping = true;
});

while (!stopping) {
  try {
    const report = await manager.tick({ budgetMs: 1000 });
    if (report.claimed === 0) await new Promise((resolve) => setTimeout(resolve, 50));
  } catch {
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
await manager.stop();
await pool.end();
