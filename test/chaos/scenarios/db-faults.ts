/**
 * Database faults: every backend of the chaos database is terminated, again and again, while
 * instances drain tasks and while a client enqueues in transactions next to its own writes. A
 * failed statement fails its invocation cleanly; the next tick resumes; every committed order has
 * exactly its task, which succeeds; every task of a rolled-back transaction is absent; nothing
 * stays `running`.
 */
import { defineTask } from '@gta/core';
import { sql } from 'drizzle-orm';
import { openChaosDatabase, statusCounts } from '../harness/database.js';
import {
  asInvocation,
  closeInstances,
  type Instance,
  openInstance,
  sleep,
  tickLoops,
} from '../harness/loops.js';
import type { ScenarioResult } from '../report.js';
import { CHAOS_RETRY_TIMES, CHAOS_TABLE } from '../settings.js';

export interface DbFaultOptions {
  /** Enqueuing transactions attempted while faults happen. */
  orders: number;
  terminations: number;
  timeoutMs: number;
  log?: (line: string) => void;
}

export async function dbFaultScenario(options: DbFaultOptions): Promise<ScenarioResult> {
  const log = options.log ?? (() => {});
  const chaosDb = await openChaosDatabase();
  const started = Date.now();
  const stop = new AbortController();
  let instances: Instance[] = [];
  try {
    await chaosDb.pool.query('create table orders (id int primary key, task_id bigint not null)');
    const dbName = new URL(chaosDb.url).pathname.slice(1);
    const task = defineTask({
      key: 'fulfil',
      retryTimes: CHAOS_RETRY_TIMES,
      retryInterval: () => 50,
      handler: async (_arg: { orderId: number }, ctx) => {
        // A terminated connection fails this insert, and so the attempt: the retry records again.
        await chaosDb.pool.query(
          'insert into executions (task_id, lease_token, worker) values ($1, $2, $3)',
          [ctx.task.id, ctx.task.leaseToken, 'in-process'],
        );
        await sleep(Math.random() * 10);
      },
    });
    instances = [0, 1, 2].map(() => openInstance(chaosDb.url, [task]));
    const draining = tickLoops(instances, stop.signal);

    const committed: number[] = [];
    let failedTransactions = 0;
    let terminations = 0;
    // Each enqueuing transaction is one serverless invocation with its own connection, as on a
    // platform; its commit hook runs in it (awaited) before the connection closes.
    let enqueuingDone = false;
    const enqueuing = (async () => {
      for (let orderId = 1; orderId <= options.orders; orderId++) {
        try {
          await asInvocation(chaosDb.url, [task], async (manager) => {
            await manager.transaction(async (tx: any) => {
              const taskId = await manager.enqueue(task, { orderId }, { tx });
              await tx.execute(sql`insert into orders (id, task_id) values (${orderId}, ${taskId})`);
              if (orderId % 7 === 0) await sleep(5);
            });
          });
          committed.push(orderId);
        } catch {
          failedTransactions++;
        }
      }
      enqueuingDone = true;
    })();
    const faults = (async () => {
      // Spread over the enqueuing, so faults hit transactions, drains and commit hooks alike.
      while (terminations < options.terminations && !enqueuingDone) {
        await sleep(200 + Math.random() * 600);
        const { rowCount } = await chaosDb.pool.query(
          'select pg_terminate_backend(pid) from pg_stat_activity where datname = $1 and pid <> pg_backend_pid()',
          [dbName],
        );
        terminations++;
        log(`db faults: terminated ${rowCount ?? 0} backends (round ${terminations})`);
      }
    })();
    await Promise.all([enqueuing, faults]);
    log(
      `db faults: ${committed.length} enqueuing transactions committed, ${failedTransactions} failed cleanly`,
    );

    const lastFault = Date.now();
    let recoveredAt = lastFault;
    const deadline = started + options.timeoutMs;
    for (;;) {
      const counts = await statusCounts(chaosDb.pool);
      if ((counts.initialized ?? 0) + (counts.running ?? 0) === 0 || Date.now() > deadline) {
        recoveredAt = Date.now();
        break;
      }
      await sleep(100);
    }
    stop.abort();
    await draining;
    const result = await analyse(
      chaosDb.pool,
      committed,
      terminations,
      recoveredAt - lastFault,
      Date.now() - started,
    );
    const leaked = await closeInstances(instances);
    instances = [];
    result.notes = [
      `${committed.length} enqueuing transactions committed, ${failedTransactions} failed cleanly`,
      `pooled clients the instances never got back: ${leaked}`,
    ];
    return result;
  } finally {
    stop.abort();
    await closeInstances(instances);
    await chaosDb.close();
  }
}

async function analyse(
  pool: import('pg').Pool,
  committed: number[],
  terminations: number,
  recoveryMs: number,
  durationMs: number,
): Promise<ScenarioResult> {
  const violations: string[] = [];
  const counts = await statusCounts(pool);
  const { rows: orders } = await pool.query<{ id: number; status: string | null }>(
    `select o.id, t.status from orders o left join ${CHAOS_TABLE} t on t.id = o.task_id order by o.id`,
  );
  const orderIds = new Set(orders.map((order) => order.id));
  const missingOrders = committed.filter((id) => !orderIds.has(id));
  if (missingOrders.length > 0) violations.push(`committed orders missing: ${missingOrders.slice(0, 5)}`);
  const withoutTask = orders.filter((order) => order.status === null);
  if (withoutTask.length > 0) violations.push(`${withoutTask.length} committed orders have no task`);
  const notSucceeded = orders.filter((order) => order.status !== null && order.status !== 'succeeded');
  if (notSucceeded.length > 0)
    violations.push(`${notSucceeded.length} tasks of committed orders did not succeed`);
  const tasks = Object.values(counts).reduce((sum, n) => sum + n, 0);
  if (tasks !== orders.length)
    violations.push(`${tasks} tasks for ${orders.length} committed orders (orphans)`);
  if ((counts.running ?? 0) > 0) violations.push(`${counts.running} tasks left running`);
  const { rows: twice } = await pool.query(
    `select task_id from completions group by task_id having count(*) > 1`,
  );
  if (twice.length > 0) violations.push(`${twice.length} tasks completed twice`);
  const { rows: duplicated } = await pool.query<{ count: number }>(
    `select count(*)::int as count from (select task_id from executions group by task_id having count(*) > 1) d`,
  );
  return {
    scenario: 'database faults',
    tasks: orders.length,
    kills: terminations,
    restarts: terminations,
    lost: withoutTask.length + notSucceeded.length + missingOrders.length,
    duplicated: duplicated[0]!.count,
    maxRecoveryMs: recoveryMs,
    durationMs,
    violations,
  };
}
