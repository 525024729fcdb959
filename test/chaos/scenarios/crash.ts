/**
 * Crash: worker processes drain a backlog while the controller SIGKILLs a random one every one or
 * two seconds and starts a replacement. Afterwards the side tables must show: every task
 * succeeded, each ran at least once, every re-execution follows a kill of the worker that ran the
 * earlier attempt, and each completion was written with the lease token of the task's last run.
 */
import { enqueueBacklog, openChaosDatabase, statusCounts } from '../harness/database.js';
import {
  killWorker,
  spawnWorker,
  stopWorker,
  type WorkerProcess,
  type WorkerSettings,
} from '../harness/workers.js';
import type { ScenarioResult } from '../report.js';
import { CHAOS_RETRY_TIMES, CHAOS_TABLE } from '../settings.js';

export interface CrashOptions {
  tasks: number;
  workers: number;
  /** Kills stop once the backlog is drained or after this many. */
  maxKills: number;
  timeoutMs: number;
  log?: (line: string) => void;
}

interface Kill {
  worker: string;
  at: number;
}

export async function crashScenario(options: CrashOptions): Promise<ScenarioResult> {
  const log = options.log ?? (() => {});
  const chaosDb = await openChaosDatabase();
  const workers: WorkerProcess[] = [];
  const kills: Kill[] = [];
  const started = Date.now();
  try {
    await enqueueBacklog(chaosDb.pool, options.tasks, CHAOS_RETRY_TIMES);
    log(`crash: ${options.tasks} tasks enqueued; starting ${options.workers} workers`);
    const settings: WorkerSettings = { url: chaosDb.url, maxHandlerMs: 20, concurrency: 10 };
    for (let i = 0; i < options.workers; i++) workers.push(spawnWorker(settings));

    const deadline = started + options.timeoutMs;
    let nextKill = Date.now() + 1000 + Math.random() * 1000;
    for (;;) {
      const counts = await statusCounts(chaosDb.pool);
      const unfinished = (counts.initialized ?? 0) + (counts.running ?? 0);
      if (unfinished === 0 || Date.now() > deadline) break;
      if (Date.now() >= nextKill && kills.length < options.maxKills) {
        const live = workers.filter((w) => w.child.exitCode === null && w.child.signalCode === null);
        const victim = live[Math.floor(Math.random() * live.length)];
        if (victim) {
          kills.push({ worker: victim.name, at: Date.now() });
          await killWorker(victim);
          workers.push(spawnWorker(settings));
          log(`crash: killed ${victim.name} with ${unfinished} tasks unfinished; started a replacement`);
        }
        nextKill = Date.now() + 1000 + Math.random() * 1000;
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    await Promise.all(workers.map((worker) => stopWorker(worker)));
    return await analyse(chaosDb.pool, options.tasks, kills, Date.now() - started);
  } finally {
    await Promise.all(workers.map((worker) => killWorker(worker)));
    await chaosDb.close();
  }
}

async function analyse(
  pool: import('pg').Pool,
  tasks: number,
  kills: Kill[],
  durationMs: number,
): Promise<ScenarioResult> {
  const violations: string[] = [];
  const counts = await statusCounts(pool);
  const lost = tasks - (counts.succeeded ?? 0);
  if (lost > 0) {
    const { rows: reasons } = await pool.query<{ last_error: string; attempts: number }>(
      `select last_error, attempts from ${CHAOS_TABLE} where task_key = 'chaos' and status <> 'succeeded' limit 3`,
    );
    violations.push(
      `${lost} tasks did not succeed: ${JSON.stringify(counts)}; e.g. ${JSON.stringify(reasons)}`,
    );
  }

  const { rows: neverRan } = await pool.query<{ count: number }>(
    `select count(*)::int as count from ${CHAOS_TABLE} t
     where t.task_key = 'chaos' and not exists (select 1 from executions e where e.task_id = t.id)`,
  );
  if (neverRan[0]!.count > 0) violations.push(`${neverRan[0]!.count} tasks never ran`);

  const { rows: runs } = await pool.query<{
    task_id: string;
    lease_token: string;
    worker: string;
    started: number;
  }>(
    `select task_id::text, lease_token::text, worker, (extract(epoch from started_at) * 1000)::float8 as started
     from executions order by task_id, started_at`,
  );
  const byTask = new Map<string, typeof runs>();
  for (const run of runs) byTask.set(run.task_id, [...(byTask.get(run.task_id) ?? []), run]);
  const killedAt = new Map(kills.map((kill) => [kill.worker, kill.at]));
  let duplicated = 0;
  let maxRecoveryMs = 0;
  for (const [taskId, taskRuns] of byTask) {
    if (taskRuns.length < 2) continue;
    duplicated++;
    for (let i = 0; i < taskRuns.length - 1; i++) {
      const earlier = taskRuns[i]!;
      const kill = killedAt.get(earlier.worker);
      // The database clock and the controller's clock are one machine's clock here.
      if (kill === undefined || kill < earlier.started - 1000) {
        violations.push(`task ${taskId} ran again after a run by ${earlier.worker}, which was not killed`);
      } else {
        maxRecoveryMs = Math.max(maxRecoveryMs, taskRuns[i + 1]!.started - kill);
      }
    }
  }

  const { rows: stale } = await pool.query<{ task_id: string }>(
    `select c.task_id::text from completions c
     where c.lease_token is distinct from (
       select e.lease_token from executions e where e.task_id = c.task_id order by e.started_at desc limit 1)`,
  );
  for (const row of stale) violations.push(`task ${row.task_id} was completed by a stale lease holder`);
  const { rows: twice } = await pool.query<{ task_id: string }>(
    `select task_id::text from completions group by task_id having count(*) > 1`,
  );
  for (const row of twice) violations.push(`task ${row.task_id} was completed twice`);

  return {
    scenario: 'crash',
    tasks,
    kills: kills.length,
    restarts: kills.length,
    lost,
    duplicated,
    maxRecoveryMs,
    durationMs,
    violations,
  };
}
