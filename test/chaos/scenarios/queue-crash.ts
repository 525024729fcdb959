/**
 * Queue crash: worker processes drain a backlog of quick tasks with a small cap, so each tick
 * claims ahead and keeps a queue of claimed tasks, and the controller SIGKILLs a working worker at
 * random moments and starts a replacement. The tasks have no retries (`retryTimes: 0`), so an
 * attempt counted for a task whose handler never started would fail it. Live workers rescue the
 * leases of the dead ones as they expire; at the end a surviving instance, its clock an hour ahead,
 * rescues and runs whatever is left. The handlers write a row to `executions` (with their lease
 * token) before anything else, and the side tables must then show: no task `failed` without a
 * started run, every failed task's run was on a killed worker, every task succeeded or failed
 * that way, and every re-execution follows a kill of the worker that ran the earlier attempt.
 *
 * The workers are `worker.ts` processes: they register the chaos task with retries, but the retry
 * budget travels with each task (its `max_attempts`, written at enqueue), and these are enqueued
 * with none.
 */
import { defineTask } from '@gta/core';
import type pg from 'pg';
import { enqueueBacklog, openChaosDatabase, statusCounts } from '../harness/database.js';
import { closeInstances, type Instance, openInstance, sleep } from '../harness/loops.js';
import {
  killWorker,
  spawnWorker,
  stopWorker,
  type WorkerProcess,
  type WorkerSettings,
} from '../harness/workers.js';
import type { ScenarioResult } from '../report.js';
import { CHAOS_TABLE } from '../settings.js';

export interface QueueCrashOptions {
  tasks: number;
  workers: number;
  /** Each worker's cap, small so that its ticks queue what they claim ahead. */
  concurrency: number;
  /** Kills stop once the backlog is drained or after this many. */
  maxKills: number;
  timeoutMs: number;
  log?: (line: string) => void;
}

interface Kill {
  worker: string;
  at: number;
}

/** A kill waits (up to a second) for its victim to hold this many claimed tasks that it has not started. */
const QUEUED_AT_KILL = 10;
/** The surviving instance's clock is this far ahead: every lease a killed worker held has expired. */
const CLOCK_AHEAD_MS = 3_600_000;

/** The scenario's result, with how many tasks a kill stranded claimed but unstarted. */
export type QueueCrashResult = ScenarioResult & { givenBack: number };

export async function queueCrashScenario(options: QueueCrashOptions): Promise<QueueCrashResult> {
  const log = options.log ?? (() => {});
  const chaosDb = await openChaosDatabase();
  const workers: WorkerProcess[] = [];
  const kills: Kill[] = [];
  const started = Date.now();
  let survivor: Instance | undefined;
  try {
    // No retries: a task that failed with a single counted attempt must have started it.
    await enqueueBacklog(chaosDb.pool, options.tasks, 0);
    log(`queue crash: ${options.tasks} tasks enqueued; starting ${options.workers} workers`);
    const settings: WorkerSettings = { url: chaosDb.url, maxHandlerMs: 2, concurrency: options.concurrency };
    for (let i = 0; i < options.workers; i++) workers.push(spawnWorker(settings));

    const deadline = started + options.timeoutMs;
    let nextKill = 0;
    for (;;) {
      const counts = await statusCounts(chaosDb.pool);
      const unfinished = (counts.initialized ?? 0) + (counts.running ?? 0);
      if (unfinished === 0 || Date.now() > deadline) break;
      if (kills.length < options.maxKills && Date.now() >= nextKill) {
        // Only a worker that is running tasks has a queue worth losing.
        const working = await workingNow(chaosDb.pool, workers);
        const victim = working[Math.floor(Math.random() * working.length)];
        // A kill lands only while the victim holds a queue; otherwise the next round tries again.
        if (victim && (await untilQueued(chaosDb.pool, victim, Date.now() + 300 + Math.random() * 700))) {
          kills.push({ worker: victim.name, at: Date.now() });
          await killWorker(victim);
          workers.push(spawnWorker(settings));
          log(
            `queue crash: killed ${victim.name} with ${unfinished} tasks unfinished; started a replacement`,
          );
          nextKill = Date.now() + 200 + Math.random() * 500;
        }
      }
      await sleep(50);
    }
    await Promise.all(workers.map((worker) => stopWorker(worker)));

    survivor = openInstance(chaosDb.url, [recordingTask(chaosDb.pool, 'survivor')], {
      clock: () => new Date(Date.now() + CLOCK_AHEAD_MS),
    });
    for (let round = 0; round < 50; round++) {
      const report = await survivor.manager.tick({ budgetMs: 2000 });
      if (report.claimed === 0 && report.rescued === 0) break;
    }
    return await analyse(chaosDb.pool, options.tasks, kills, Date.now() - started);
  } finally {
    await Promise.all(workers.map((worker) => killWorker(worker)));
    if (survivor) await closeInstances([survivor]);
    await chaosDb.close();
  }
}

/** The chaos task as the workers run it: its first act is to record its start. */
function recordingTask(pool: pg.Pool, worker: string) {
  return defineTask({
    key: 'chaos',
    handler: async (_arg: { n: number }, ctx) => {
      const token = ctx.task.leaseToken;
      await pool.query('insert into executions (task_id, lease_token, worker) values ($1, $2, $3)', [
        ctx.task.id,
        token,
        worker,
      ]);
      await pool.query(
        'update executions set finished_at = clock_timestamp() where task_id = $1 and lease_token = $2',
        [ctx.task.id, token],
      );
    },
  });
}

/** The live workers that have started a task in the last second. */
async function workingNow(pool: pg.Pool, workers: WorkerProcess[]): Promise<WorkerProcess[]> {
  const { rows } = await pool.query<{ worker: string }>(
    `select distinct worker from executions where started_at > clock_timestamp() - interval '1 second'`,
  );
  const names = new Set(rows.map((row) => row.worker));
  return workers.filter(
    (worker) => names.has(worker.name) && worker.child.exitCode === null && worker.child.signalCode === null,
  );
}

/**
 * Waits for a moment when `worker` holds at least {@link QUEUED_AT_KILL} claimed tasks it has not
 * started (their lease token is that of a claim whose other tasks it started); false if `until`
 * came first.
 */
async function untilQueued(pool: pg.Pool, worker: WorkerProcess, until: number): Promise<boolean> {
  while (Date.now() < until) {
    const { rows } = await pool.query<{ queued: number }>(
      `select count(*)::int as queued from ${CHAOS_TABLE} t
       where t.status = 'running' and t.started_at is null
         and t.lease_token in (select lease_token from executions where worker = $1)`,
      [worker.name],
    );
    if ((rows[0]?.queued ?? 0) >= QUEUED_AT_KILL) return true;
    await sleep(10);
  }
  return false;
}

async function analyse(
  pool: pg.Pool,
  tasks: number,
  kills: Kill[],
  durationMs: number,
): Promise<QueueCrashResult> {
  const violations: string[] = [];
  const killedAt = new Map(kills.map((kill) => [kill.worker, kill.at]));
  const counts = await statusCounts(pool);

  const { rows: neverStarted } = await pool.query<{ id: string; last_error: string }>(
    `select t.id::text, t.last_error from ${CHAOS_TABLE} t
     where t.task_key = 'chaos' and t.status = 'failed'
       and not exists (select 1 from executions e where e.task_id = t.id)
     order by t.id`,
  );
  if (neverStarted.length > 0) {
    violations.push(
      `${neverStarted.length} tasks failed without a started run, e.g. ${JSON.stringify(neverStarted.slice(0, 3))}`,
    );
  }

  const { rows: runs } = await pool.query<{
    task_id: string;
    worker: string;
    started: number;
  }>(
    `select task_id::text, worker, (extract(epoch from started_at) * 1000)::float8 as started
     from executions order by task_id, started_at`,
  );
  const byTask = new Map<string, typeof runs>();
  for (const run of runs) byTask.set(run.task_id, [...(byTask.get(run.task_id) ?? []), run]);

  // A failed task's last run was cut short by a kill, so that its start was counted and its
  // outcome never written.
  const { rows: failed } = await pool.query<{ id: string }>(
    `select id::text from ${CHAOS_TABLE} where task_key = 'chaos' and status = 'failed'`,
  );
  let failedStarted = 0;
  for (const { id } of failed) {
    const last = byTask.get(id)?.at(-1);
    if (!last) continue;
    failedStarted++;
    if (!killedAt.has(last.worker))
      violations.push(`task ${id} failed after a run by ${last.worker}, not killed`);
  }
  const lost = tasks - (counts.succeeded ?? 0) - failedStarted;
  if (lost > 0)
    violations.push(`${lost} tasks neither succeeded nor failed a started run: ${JSON.stringify(counts)}`);

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

  // Tasks a killed worker had claimed but not started: their lease expired with no start recorded,
  // and the rescue gave the attempt back. They ran after the kill that stranded them.
  const { rows: givenBack } = await pool.query<{ task_id: string; first: number | null }>(
    `select t.id::text as task_id, (extract(epoch from min(e.started_at)) * 1000)::float8 as first
     from ${CHAOS_TABLE} t left join executions e on e.task_id = t.id
     where t.task_key = 'chaos' and t.unstarted_expiries > 0 group by t.id`,
  );
  for (const { first } of givenBack) {
    const before = kills.filter((kill) => first !== null && kill.at <= first).at(-1);
    if (first !== null && before) maxRecoveryMs = Math.max(maxRecoveryMs, first - before.at);
  }

  return {
    scenario: 'queue-crash',
    tasks,
    kills: kills.length,
    restarts: kills.length,
    lost: Math.max(0, lost),
    duplicated,
    maxRecoveryMs,
    durationMs,
    violations,
    givenBack: givenBack.length,
    notes: [
      `${givenBack.length} tasks were claimed by a killed worker and never started there: given back, not counted`,
      `${failedStarted} tasks failed, each after a started run on a killed worker (retryTimes 0)`,
      `final statuses ${JSON.stringify(counts)}`,
    ],
  };
}
