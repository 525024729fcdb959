/**
 * Overload: a producer enqueues faster than the instances drain, with a concurrency cap. Memory
 * and the work of each tick stay bounded (the cap and the budget, not the backlog, set them), the
 * abnormal check reports the backlog once it is overdue, and the backlog drains completely.
 */
import { defineTask } from '@gta/core';
import { drizzleOn, openChaosDatabase, statusCounts } from '../harness/database.js';
import { closeInstances, type Instance, openInstance, sleep, tickLoops } from '../harness/loops.js';
import type { ScenarioResult } from '../report.js';
import { CHAOS_RETRY_TIMES, CHAOS_TABLE } from '../settings.js';

const INITIALIZED_TIMEOUT_MS = 1000;
const MAINTENANCE_INTERVAL_MS = 1000;

export interface OverloadOptions {
  tasks: number;
  instances: number;
  concurrency: number;
  timeoutMs: number;
  log?: (line: string) => void;
}

export async function overloadScenario(options: OverloadOptions): Promise<ScenarioResult> {
  const log = options.log ?? (() => {});
  const chaosDb = await openChaosDatabase();
  const started = Date.now();
  const stop = new AbortController();
  let instances: Instance[] = [];
  let running = 0;
  let maxRunning = 0;
  try {
    const task = defineTask({
      key: 'overload',
      retryTimes: CHAOS_RETRY_TIMES,
      handler: async () => {
        maxRunning = Math.max(maxRunning, ++running);
        await sleep(1 + Math.random() * 3);
        running--;
      },
    });
    const abnormal: number[] = [];
    instances = Array.from({ length: options.instances }, () =>
      openInstance(chaosDb.url, [task], {
        concurrency: options.concurrency,
        initializedTimeout: INITIALIZED_TIMEOUT_MS,
        maintenanceInterval: MAINTENANCE_INTERVAL_MS,
        checkCallback: (_logger, tasks) => void abnormal.push(tasks.length),
      }),
    );
    const draining = tickLoops(instances, stop.signal, { budgetMs: 500 });

    const rss: number[] = [];
    const sampler = setInterval(() => rss.push(process.memoryUsage().rss), 200);
    const db = drizzleOn(chaosDb.pool);
    let enqueued = 0;
    let maxBacklog = 0;
    while (enqueued < options.tasks) {
      const size = Math.min(1000, options.tasks - enqueued);
      await db.transaction((tx) =>
        instances[0]!.manager.enqueueMany(
          task,
          Array.from({ length: size }, (_, n) => ({ n: enqueued + n })),
          { tx },
        ),
      );
      enqueued += size;
      const counts = await statusCounts(chaosDb.pool);
      maxBacklog = Math.max(maxBacklog, counts.initialized ?? 0);
    }
    const enqueuedAt = Date.now();
    log(`overload: ${options.tasks} enqueued in ${enqueuedAt - started} ms; backlog peaked at ${maxBacklog}`);
    const deadline = started + options.timeoutMs;
    for (;;) {
      const counts = await statusCounts(chaosDb.pool);
      if ((counts.succeeded ?? 0) === options.tasks || Date.now() > deadline) break;
      await sleep(200);
    }
    const drainedAt = Date.now();
    clearInterval(sampler);
    stop.abort();
    await draining;

    const violations: string[] = [];
    const counts = await statusCounts(chaosDb.pool);
    const lost = options.tasks - (counts.succeeded ?? 0);
    if (lost > 0) violations.push(`${lost} tasks did not succeed: ${JSON.stringify(counts)}`);
    const capacity = options.instances * options.concurrency;
    if (maxRunning > capacity) violations.push(`${maxRunning} handlers ran at once; the cap is ${capacity}`);
    const reports = instances.flatMap((instance) => instance.reports);
    const maxClaimed = Math.max(...reports.map((report) => report.claimed));
    // A task that waited past initializedTimeout plus a maintenance interval must have been reported.
    const { rows: waited } = await chaosDb.pool.query<{ ms: number | null }>(
      `select max(extract(epoch from started_at - run_at) * 1000)::float8 as ms from ${CHAOS_TABLE}
       where task_key = 'overload'`,
    );
    const longestWaitMs = waited[0]?.ms ?? 0;
    if (longestWaitMs > INITIALIZED_TIMEOUT_MS + MAINTENANCE_INTERVAL_MS && abnormal.length === 0) {
      violations.push(
        `a task waited ${Math.round(longestWaitMs)} ms but the abnormal check reported nothing`,
      );
    }
    const half = Math.floor(rss.length / 2);
    const peak = (samples: number[]) => Math.max(...samples) / 2 ** 20;
    return {
      scenario: 'overload',
      tasks: options.tasks,
      kills: 0,
      restarts: 0,
      lost,
      duplicated: 0,
      maxRecoveryMs: drainedAt - enqueuedAt,
      durationMs: Date.now() - started,
      violations,
      notes: [
        `backlog peak ${maxBacklog}; at most ${maxRunning} handlers at once (cap ${capacity})`,
        `most claimed by one tick ${maxClaimed} (${reports.length} ticks); longest wait ${Math.round(longestWaitMs)} ms; abnormal reports: ${abnormal.length}`,
        `RSS peak first half ${peak(rss.slice(0, half)).toFixed(0)} MiB, second half ${peak(rss.slice(half)).toFixed(0)} MiB`,
      ],
    };
  } finally {
    stop.abort();
    await closeInstances(instances);
    await chaosDb.close();
  }
}
