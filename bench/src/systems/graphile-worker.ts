/**
 * graphile-worker: jobs added with its SQL API inside the caller's transaction (`add_job`, as its
 * docs recommend for transactional enqueue) or `addJobs`; a worker pool of concurrency 10, by
 * default and with its batched local queue and batched completion; LISTEN/NOTIFY for latency.
 * @module
 */
import { performance } from 'node:perf_hooks';
import { Logger, makeWorkerUtils, type Runner, run, runMigrations, type WorkerUtils } from 'graphile-worker';
import type pg from 'pg';
import { type Classifier, instrumentedPool, StatementLog } from '../statements.js';
import {
  type DrainInput,
  type DrainRun,
  type DrainVariant,
  deferred,
  gap,
  type LatencyVariant,
  pollUntil,
  type System,
} from './types.js';

const classify: Classifier = (text) => {
  const sql = text.trimStart().toLowerCase();
  if (/^(begin|commit|rollback)\b/.test(sql)) return sql.split(/\s/)[0]!;
  if (sql.includes('skip locked') && sql.includes('_private_jobs')) return 'claim';
  if (sql.includes('delete from') && sql.includes('_private_jobs')) return 'complete';
  if (sql.includes('add_job')) return 'enqueue';
  if (sql.startsWith('listen') || sql.startsWith('unlisten')) return 'listen';
  return 'other';
};

const silent = new Logger(() => () => {});
const LOCAL_QUEUE_SIZE = 50;

export class GraphileWorker implements System {
  readonly name = 'graphile-worker' as const;
  readonly log = new StatementLog(classify);
  readonly drainVariants: DrainVariant[] = [
    { name: 'default', settings: 'run({ concurrency: 10 }), one job fetched per free worker', best: false },
    {
      name: 'batched',
      settings: `concurrency 10, preset.worker: { localQueue: { size: ${LOCAL_QUEUE_SIZE} }, completeJobBatchDelay: 0, failJobBatchDelay: 0 }`,
      best: true,
    },
  ];
  readonly latencyVariants: LatencyVariant[];
  readonly pool: pg.Pool;
  #utils: WorkerUtils | null = null;

  constructor(
    url: string,
    readonly version: string,
    latencySamples: number,
  ) {
    // concurrency + 2 connections, as its docs advise, plus the enqueuer's.
    this.pool = instrumentedPool({ connectionString: url, max: 13 }, this.log);
    this.latencyVariants = [
      {
        name: 'LISTEN/NOTIFY',
        settings: 'default worker; its jobs:insert notification wakes the pool',
        samples: latencySamples,
      },
    ];
  }

  async setup(): Promise<void> {
    await runMigrations({ pgPool: this.pool, logger: silent });
    this.#utils = await makeWorkerUtils({ pgPool: this.pool, logger: silent });
  }

  async enqueueEach(count: number): Promise<number> {
    const client = await this.pool.connect();
    const started = performance.now();
    try {
      for (let i = 0; i < count; i++) {
        await client.query('begin');
        await client.query(`select graphile_worker.add_job('enqueue_each', $1::json)`, [
          JSON.stringify({ i }),
        ]);
        await client.query('commit');
      }
    } finally {
      client.release();
    }
    const ms = performance.now() - started;
    await this.#clear();
    return ms;
  }

  async enqueueBatches(count: number, size: number): Promise<number> {
    const started = performance.now();
    for (let start = 0; start < count; start += size) {
      const specs = Array.from({ length: Math.min(size, count - start) }, (_, i) => ({
        identifier: 'enqueue_batch',
        payload: { i: start + i },
      }));
      await this.#utils!.addJobs(specs);
    }
    const ms = performance.now() - started;
    await this.#clear();
    return ms;
  }

  /** Adds `count` jobs with one statement, due now or in a day. */
  async #fill(identifier: string, count: number, due: boolean): Promise<void> {
    await this.pool.query(
      `select count(*) from graphile_worker.add_jobs(array(
         select row($1::text, json_build_object('i', i), null, case when $3 then now() else now() + interval '1 day' end,
                    null, null, null, null)::graphile_worker.job_spec
         from generate_series(1, $2::int) as i))`,
      [identifier, count, due],
    );
  }

  /** Empties the jobs table and vacuums it, so that the next measurement starts as fresh as the others' tables. */
  async #clear(): Promise<void> {
    await this.pool.query('delete from graphile_worker._private_jobs');
    await this.pool.query('vacuum analyze graphile_worker._private_jobs');
  }

  async drain(variant: DrainVariant, input: DrainInput): Promise<DrainRun> {
    await this.#fill('noop', input.tasks, true);
    // Finished jobs are deleted, so the backlog is jobs not yet due.
    if (input.backlog) await this.#fill('noop', input.backlog, false);
    await this.pool.query('vacuum analyze graphile_worker._private_jobs');
    let done = 0;
    const finishedAll = deferred<void>();
    const runner = await run({
      pgPool: this.pool,
      concurrency: input.concurrency,
      noHandleSignals: true,
      logger: silent,
      taskList: {
        noop: async () => {
          if (++done === input.tasks) finishedAll.resolve();
        },
      },
      // Not started until the timer below starts: run() resolves once the pool is listening.
      ...(variant.name === 'batched'
        ? {
            preset: {
              worker: {
                localQueue: { size: LOCAL_QUEUE_SIZE },
                completeJobBatchDelay: 0,
                failJobBatchDelay: 0,
              },
            },
          }
        : {}),
    });
    this.log.reset();
    input.onStart?.();
    const started = performance.now();
    const deadline = started + input.timeLimitMs;
    await Promise.race([
      finishedAll.promise,
      new Promise((resolve) => setTimeout(resolve, input.timeLimitMs)),
    ]);
    const recorded = await pollUntil(async () => {
      const { rows } = await this.pool.query<{ count: string }>(
        'select count(*) from graphile_worker._private_jobs where run_at <= now()',
      );
      return Number(rows[0]!.count) === 0;
    }, deadline);
    const ms = performance.now() - started;
    const statements = this.log.counts();
    const claimMs = [...(this.log.kinds.get('claim')?.samples ?? [])];
    await stop(runner);
    await this.#clear();
    const capped = !recorded || done < input.tasks;
    return { tasks: Math.min(done, input.tasks), ms, capped, statements, claimMs };
  }

  async latency(variant: LatencyVariant): Promise<number[]> {
    let started = deferred<number>();
    const runner = await run({
      pgPool: this.pool,
      concurrency: 10,
      noHandleSignals: true,
      logger: silent,
      taskList: { latency: async () => started.resolve(performance.now()) },
    });
    const client = await this.pool.connect();
    const latencies: number[] = [];
    try {
      for (let i = 0; i < variant.samples; i++) {
        await gap(variant);
        started = deferred<number>();
        await client.query('begin');
        await client.query(`select graphile_worker.add_job('latency', $1::json)`, [JSON.stringify({ i })]);
        await client.query('commit');
        const committed = this.log.lastEnd.get('commit')!;
        latencies.push((await started.promise) - committed);
      }
    } finally {
      client.release();
      await stop(runner);
      await this.#clear();
    }
    return latencies;
  }

  async close(): Promise<void> {
    await this.#utils?.release();
    await this.pool.end();
  }
}

async function stop(runner: Runner): Promise<void> {
  await runner.stop();
  await runner.promise.catch(() => {});
}
