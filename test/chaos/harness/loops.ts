/**
 * In-process instances: managers on their own pools, each looping `tick()` until told to stop,
 * counting what their ticks reported. Faults that are not process deaths (a terminated backend,
 * a lost commit hook, overload) are driven against these.
 */
import {
  createTaskManager,
  silentLogger,
  type TaskDefinition,
  type TaskManager,
  type TaskManagerOptions,
  type TickReport,
} from '@gta/core';
import { drizzle } from 'drizzle-orm/node-postgres';
import pg from 'pg';
import { CHAOS_LEASE_MARGIN_MS, CHAOS_TABLE, CHAOS_TASK_TIMEOUT_MS } from '../settings.js';

export interface Instance {
  manager: TaskManager;
  pool: pg.Pool;
  /** Reports of every tick that returned; failed ticks are counted in `tickErrors`. */
  reports: TickReport[];
  tickErrors: number;
}

export function openInstance(
  url: string,
  tasks: TaskDefinition<any, any, any>[],
  options: Partial<TaskManagerOptions> = {},
): Instance {
  const pool = resilientPool(url);
  const manager = createTaskManager({
    db: drizzle(pool),
    table: CHAOS_TABLE,
    tasks,
    logger: silentLogger,
    taskTimeout: CHAOS_TASK_TIMEOUT_MS,
    leaseMargin: CHAOS_LEASE_MARGIN_MS,
    maintenanceInterval: 1000,
    ...options,
  });
  return { manager, pool, reports: [], tickErrors: 0 };
}

/** Loops `tick()` on each instance until `stop` aborts; resolves when every loop has returned. */
export async function tickLoops(
  instances: Instance[],
  stop: AbortSignal,
  tick: { budgetMs: number; concurrency?: number } = { budgetMs: 1000 },
): Promise<void> {
  await Promise.all(
    instances.map(async (instance) => {
      while (!stop.aborted) {
        try {
          const report = await instance.manager.tick(tick);
          instance.reports.push(report);
          if (report.claimed === 0) await sleep(30);
        } catch {
          instance.tickErrors++;
          await sleep(50);
        }
      }
    }),
  );
}

/**
 * Stops every instance and ends its pool. Returns how many pooled clients were never given back
 * (then `pool.end()` would wait for them forever): drizzle-orm's node-postgres `transaction`
 * (0.45) keeps the pooled client it checked out when its BEGIN fails on a terminated connection,
 * so transactions are run through `asInvocation` instead, and this should stay 0.
 */
export async function closeInstances(instances: Instance[]): Promise<number> {
  let leaked = 0;
  for (const instance of instances) {
    await instance.manager.stop({ wait: false });
    leaked += instance.pool.totalCount - instance.pool.idleCount;
    await Promise.race([instance.pool.end().catch(() => {}), sleep(2000)]);
  }
  return leaked;
}

/**
 * Runs `work` as one serverless invocation: its own connection and manager, closed afterwards.
 * A fault during the invocation rejects it; the connection is closed either way.
 */
export async function asInvocation<T>(
  url: string,
  tasks: TaskDefinition<any, any, any>[],
  work: (manager: TaskManager) => Promise<T>,
): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  client.on('error', () => {});
  await client.connect();
  try {
    const manager = createTaskManager({
      db: drizzle(client),
      table: CHAOS_TABLE,
      tasks,
      logger: silentLogger,
      taskTimeout: CHAOS_TASK_TIMEOUT_MS,
      leaseMargin: CHAOS_LEASE_MARGIN_MS,
    });
    return await work(manager);
  } finally {
    await client.end().catch(() => {});
  }
}

/**
 * A pool whose clients survive a terminated backend: node-postgres emits 'error' on an idle pooled
 * client, and on a client checked out for a transaction between two statements; unheard, either
 * ends the process. The statement that used the connection fails on its own.
 */
export function resilientPool(url: string, max = 4): pg.Pool {
  const pool = new pg.Pool({ connectionString: url, max });
  pool.on('error', () => {});
  pool.on('connect', (client) => client.on('error', () => {}));
  return pool;
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
