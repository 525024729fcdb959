/**
 * Poison tasks among healthy ones: handlers that throw non-Errors, never settle, outlive their
 * timeout, or find a corrupt argument in their row. Each poison task ends `failed` with its reason
 * recorded; every healthy task succeeds; nothing is blocked.
 */
import { defineTask } from '@gta/core';
import { z } from 'zod';
import { drizzleOn, openChaosDatabase, statusCounts } from '../harness/database.js';
import { closeInstances, type Instance, openInstance, sleep, tickLoops } from '../harness/loops.js';
import type { ScenarioResult } from '../report.js';
import { CHAOS_TABLE } from '../settings.js';

const POISONS = {
  'throws-string': () => {
    throw 'a plain string';
  },
  'throws-object': () => {
    throw { code: 42 };
  },
  'never-settles': () => new Promise(() => {}),
  'outlives-timeout': () => sleep(1000),
} as const;

const EXPECTED_REASON: Record<string, string> = {
  'throws-string': 'non-Error thrown: a plain string',
  'throws-object': 'non-Error thrown: {"code":42}',
  'never-settles': 'timed out after 100 ms',
  'outlives-timeout': 'timed out after 100 ms',
  'corrupt-argument': 'stored argument is invalid',
};

export async function poisonScenario(options: { healthy: number; poisonEach: number; timeoutMs: number }) {
  const chaosDb = await openChaosDatabase();
  const started = Date.now();
  const stop = new AbortController();
  let instances: Instance[] = [];
  try {
    const healthy = defineTask({ key: 'healthy', handler: () => sleep(Math.random() * 3) });
    const poisons = Object.entries(POISONS).map(([key, handler]) =>
      defineTask({ key, retryTimes: 1, retryInterval: () => 0, timeoutMs: 100, handler }),
    );
    const corrupt = defineTask({
      key: 'corrupt-argument',
      retryTimes: 3,
      schema: z.object({ orderId: z.number() }),
      handler: () => {},
    });
    const tasks = [healthy, ...poisons, corrupt];
    instances = [0, 1].map(() => openInstance(chaosDb.url, tasks, { concurrency: 10 }));
    const db = drizzleOn(chaosDb.pool);
    const manager = instances[0]!.manager;
    await db.transaction(async (tx) => {
      for (const poison of poisons) {
        await manager.enqueueMany(
          poison,
          Array.from({ length: options.poisonEach }, () => ({})),
          { tx },
        );
      }
      const corruptIds = await manager.enqueueMany(
        corrupt,
        Array.from({ length: options.poisonEach }, (_, orderId) => ({ orderId })),
        { tx },
      );
      await manager.enqueueMany(
        healthy,
        Array.from({ length: options.healthy }, () => ({})),
        { tx },
      );
      await tx.execute(
        `update ${CHAOS_TABLE} set arg = '{"orderId": "not a number"}'::jsonb where id in (${corruptIds.join(',')})`,
      );
    });
    const draining = tickLoops(instances, stop.signal, { budgetMs: 1000 });
    const deadline = started + options.timeoutMs;
    for (;;) {
      const counts = await statusCounts(chaosDb.pool);
      if ((counts.initialized ?? 0) + (counts.running ?? 0) === 0 || Date.now() > deadline) break;
      await sleep(100);
    }
    stop.abort();
    await draining;

    const violations: string[] = [];
    const { rows } = await chaosDb.pool.query<{
      task_key: string;
      status: string;
      last_error: string | null;
    }>(`select task_key, status, last_error from ${CHAOS_TABLE} where task_key not like 'gta:%'`);
    const healthyLeft = rows.filter((row) => row.task_key === 'healthy' && row.status !== 'succeeded').length;
    if (healthyLeft > 0) violations.push(`${healthyLeft} healthy tasks did not succeed`);
    for (const row of rows.filter((r) => r.task_key !== 'healthy')) {
      const expected = EXPECTED_REASON[row.task_key]!;
      if (row.status !== 'failed' || !row.last_error?.includes(expected)) {
        violations.push(
          `${row.task_key}: ${row.status} with ${JSON.stringify(row.last_error?.slice(0, 80))}`,
        );
        break;
      }
    }
    const counts = await statusCounts(chaosDb.pool);
    return {
      scenario: 'poison tasks',
      tasks: rows.length,
      kills: 0,
      restarts: 0,
      lost: healthyLeft,
      duplicated: 0,
      maxRecoveryMs: 0,
      durationMs: Date.now() - started,
      violations,
      notes: [`final statuses ${JSON.stringify(counts)}`],
    } satisfies ScenarioResult;
  } finally {
    stop.abort();
    await closeInstances(instances);
    await chaosDb.close();
  }
}
