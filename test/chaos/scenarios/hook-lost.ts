/**
 * Commit hook lost: the invocation that committed the tasks exits right after the commit. The
 * next tick runs every plain task (some may have been claimed by the dying process: their
 * leases expire and are rescued); `initTimeoutSensitive` tasks left past `initializedTimeout`
 * are reported by the abnormal check instead of run.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { type AbnormalTask, defineTask } from '@gta/core';
import { openChaosDatabase, statusCounts } from '../harness/database.js';
import { closeInstances, type Instance, openInstance, sleep } from '../harness/loops.js';
import type { ScenarioResult } from '../report.js';
import { CHAOS_RETRY_TIMES, CHAOS_TABLE } from '../settings.js';

const CHILD = fileURLToPath(new URL('../hook-lost-child.ts', import.meta.url));

export async function hookLostScenario(options: {
  tasks: number;
  timeoutMs: number;
}): Promise<ScenarioResult> {
  const chaosDb = await openChaosDatabase();
  const started = Date.now();
  let instance: Instance | undefined;
  try {
    const exitCode = await new Promise<number | null>((resolve) => {
      const child = spawn(process.execPath, ['--import', 'tsx', CHILD], {
        env: { ...process.env, CHAOS_URL: chaosDb.url, CHAOS_TASKS: String(options.tasks) },
        stdio: 'inherit',
      });
      child.on('exit', resolve);
    });
    const violations: string[] = [];
    if (exitCode !== 0) violations.push(`the enqueuing invocation exited with ${exitCode}`);
    const exitedAt = Date.now();

    // The scanner sees the database clock ten minutes on: the sensitive tasks are overdue.
    const reported: AbnormalTask[] = [];
    const noop = () => {};
    instance = openInstance(
      chaosDb.url,
      [
        defineTask({ key: 'hook-lost', retryTimes: CHAOS_RETRY_TIMES, handler: noop }),
        defineTask({ key: 'hook-lost-sensitive', initTimeoutSensitive: true, handler: noop }),
      ],
      {
        clock: () => new Date(Date.now() + 10 * 60_000),
        initializedTimeout: 60_000,
        checkCallback: (_logger, tasks) => void reported.push(...tasks),
      },
    );
    const deadline = started + options.timeoutMs;
    let recoveredAt = 0;
    while (Date.now() < deadline) {
      await instance.manager.tick({ budgetMs: 2000 });
      const { rows } = await chaosDb.pool.query<{ count: number }>(
        `select count(*)::int as count from ${CHAOS_TABLE} where task_key = 'hook-lost' and status <> 'succeeded'`,
      );
      if (rows[0]!.count === 0) {
        recoveredAt = Date.now();
        break;
      }
      await sleep(50);
    }
    const { rows: plainLeft } = await chaosDb.pool.query<{ count: number }>(
      `select count(*)::int as count from ${CHAOS_TABLE} where task_key = 'hook-lost' and status <> 'succeeded'`,
    );
    if (plainLeft[0]!.count > 0) violations.push(`${plainLeft[0]!.count} committed tasks were never run`);
    const { rows: sensitive } = await chaosDb.pool.query<{ status: string }>(
      `select status from ${CHAOS_TABLE} where task_key = 'hook-lost-sensitive'`,
    );
    const sensitiveInitialized = sensitive.filter((row) => row.status === 'initialized').length;
    const sensitiveReported = new Set(
      reported.filter((entry) => entry.task.key === 'hook-lost-sensitive').map((entry) => entry.task.id),
    ).size;
    // A sensitive task the dying process had already claimed was started in time; it may run.
    if (sensitiveReported !== sensitiveInitialized) {
      violations.push(
        `${sensitiveInitialized} sensitive tasks left initialized but ${sensitiveReported} reported`,
      );
    }
    const counts = await statusCounts(chaosDb.pool);
    return {
      scenario: 'commit hook lost',
      tasks: options.tasks + sensitive.length,
      kills: 1,
      restarts: 1,
      lost: plainLeft[0]!.count,
      duplicated: 0,
      maxRecoveryMs: recoveredAt === 0 ? Date.now() - exitedAt : recoveredAt - exitedAt,
      durationMs: Date.now() - started,
      violations,
      notes: [`final statuses ${JSON.stringify(counts)}; ${sensitiveReported} sensitive tasks reported`],
    };
  } finally {
    if (instance) await closeInstances([instance]);
    await chaosDb.close();
  }
}
