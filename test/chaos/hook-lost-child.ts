/**
 * An invocation that ends right after its commit: it enqueues in `manager.transaction`, hands the
 * commit hook's work to a `waitUntil` that nobody honours, and exits at once, as a platform
 * freezing or killing the invocation after the response would.
 */
import { createTaskManager, defineTask, silentLogger } from '@gta/core';
import { drizzle } from 'drizzle-orm/node-postgres';
import pg from 'pg';
import { CHAOS_LEASE_MARGIN_MS, CHAOS_RETRY_TIMES, CHAOS_TABLE, CHAOS_TASK_TIMEOUT_MS } from './settings.js';

const pool = new pg.Pool({ connectionString: process.env.CHAOS_URL, max: 2 });
const count = Number(process.env.CHAOS_TASKS);
const noop = () => {};
const plain = defineTask({ key: 'hook-lost', retryTimes: CHAOS_RETRY_TIMES, handler: noop });
const sensitive = defineTask({ key: 'hook-lost-sensitive', initTimeoutSensitive: true, handler: noop });
const manager = createTaskManager({
  db: drizzle(pool),
  table: CHAOS_TABLE,
  tasks: [plain, sensitive],
  logger: silentLogger,
  taskTimeout: CHAOS_TASK_TIMEOUT_MS,
  leaseMargin: CHAOS_LEASE_MARGIN_MS,
});

await manager.transaction(
  async (tx) => {
    await manager.enqueueMany(
      plain,
      Array.from({ length: count }, (_, n) => ({ n })),
      { tx },
    );
    await manager.enqueueMany(sensitive, [{}, {}, {}], { tx });
  },
  { waitUntil: () => {} },
);
process.exit(0);
