/**
 * A worker process of the group-limit suite: loops `tick()` on its own pool, as one serverless
 * instance fired by cron would, until SIGTERM.
 */
import { createTaskManager, silentLogger } from '@gta/core';
import { drizzle } from 'drizzle-orm/node-postgres';
import pg from 'pg';
import { limitTasks } from './tasks.js';

const env = (name: string) => {
  const value = process.env[name];
  if (value === undefined) throw new Error(`${name} is not set`);
  return value;
};

const table = env('LIMITS_TABLE');
const pool = new pg.Pool({ connectionString: env('LIMITS_URL'), max: 4 });
const tasks = limitTasks(pool, table, env('LIMITS_WORKER'));
const manager = createTaskManager({
  db: drizzle(pool),
  table,
  tasks: Object.values(tasks),
  logger: silentLogger,
  concurrency: 5,
});

let stopping = false;
process.on('SIGTERM', () => {
  stopping = true;
});
process.send?.('ready');
while (!stopping) {
  const report = await manager.tick({ budgetMs: 500 });
  if (report.claimed === 0) await new Promise((resolve) => setTimeout(resolve, 20 + Math.random() * 20));
}
await manager.stop();
await pool.end();
