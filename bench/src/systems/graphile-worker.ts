/**
 * graphile-worker: jobs added with its SQL API inside the caller's transaction (`add_job`, as its
 * docs recommend for transactional enqueue) or `addJobs`; a worker pool of concurrency 10, by
 * default and with its batched local queue and batched completion; LISTEN/NOTIFY for latency and
 * steady state. Two versions run side by side, each in a schema of its own: 0.17 (the newest that
 * installs on Node 20) and 0.18 (Node 22 and later).
 * @module
 */
import { performance } from 'node:perf_hooks';
import type * as GraphileWorkerModule from 'graphile-worker';
import type { Logger, Runner, RunnerOptions, WorkerUtils } from 'graphile-worker';
import type pg from 'pg';
import { type Classifier, instrumentedPool, StatementLog } from '../statements.js';
import {
  type Consumer,
  type DrainInput,
  type DrainRun,
  type DrainVariant,
  deferred,
  FILL_BATCH,
  FILL_PRODUCERS,
  gap,
  HandlerClock,
  type LatencyVariant,
  pollUntil,
  produce,
  produceBatches,
  type SteadyInput,
  type SteadySession,
  type SteadyVariant,
  type System,
} from './types.js';

/** What the bench uses of the package; 0.17 and 0.18 agree on it. */
export type GraphileWorkerLib = Pick<
  typeof GraphileWorkerModule,
  'run' | 'runMigrations' | 'makeWorkerUtils' | 'Logger'
>;

const classify: Classifier = (text) => {
  const sql = text.trimStart().toLowerCase();
  if (/^(begin|commit|rollback)\b/.test(sql)) return sql.split(/\s/)[0]!;
  if (sql.includes('skip locked') && sql.includes('_private_jobs')) return 'claim';
  if (sql.includes('delete from') && sql.includes('_private_jobs')) return 'complete';
  if (sql.includes('add_job')) return 'enqueue';
  if (sql.startsWith('listen') || sql.startsWith('unlisten')) return 'listen';
  return 'other';
};

const LOCAL_QUEUE_SIZE = 50;
const BATCHED = {
  preset: {
    worker: { localQueue: { size: LOCAL_QUEUE_SIZE }, completeJobBatchDelay: 0, failJobBatchDelay: 0 },
  },
};

export class GraphileWorker implements System {
  readonly log = new StatementLog(classify);
  readonly drainVariants: DrainVariant[] = [
    { name: 'default', settings: 'run({ concurrency: 10 }), one job fetched per free worker', best: false },
    {
      name: 'batched',
      settings: `concurrency 10, preset.worker: { localQueue: { size: ${LOCAL_QUEUE_SIZE} }, completeJobBatchDelay: 0, failJobBatchDelay: 0 }`,
      best: true,
    },
  ];
  readonly steadyVariants: SteadyVariant[] = [
    {
      name: 'batched',
      settings: `producers call add_job in their transactions; the batched worker (as in the drain), woken by its jobs:insert NOTIFY`,
      best: true,
      pollMs: 0,
    },
  ];
  readonly latencyVariants: LatencyVariant[];
  readonly pool: pg.Pool;
  readonly #silent: Logger;
  #utils: WorkerUtils | null = null;

  constructor(
    readonly name: 'graphile-worker' | 'graphile-worker@0.18',
    readonly url: string,
    readonly version: string,
    latencySamples: number,
    readonly lib: GraphileWorkerLib,
    /** Its Postgres schema: each version keeps its own. */
    readonly schema: string,
  ) {
    // concurrency + 2 connections, as its docs advise, plus the enqueuer's.
    this.pool = instrumentedPool({ connectionString: url, max: 13 }, this.log);
    this.#silent = new lib.Logger(() => () => {});
    this.latencyVariants = [
      {
        name: 'LISTEN/NOTIFY',
        settings: 'default worker; its jobs:insert notification wakes the pool',
        samples: latencySamples,
      },
    ];
  }

  /** The options every runner and utility of this system shares. */
  get #shared() {
    return { pgPool: this.pool, logger: this.#silent, schema: this.schema };
  }

  async setup(): Promise<void> {
    await this.lib.runMigrations(this.#shared);
    this.#utils = await this.lib.makeWorkerUtils(this.#shared);
  }

  async #run(options: Omit<RunnerOptions, 'pgPool' | 'schema'>): Promise<Runner> {
    return this.lib.run({ ...this.#shared, noHandleSignals: true, ...options });
  }

  async #addJob(client: pg.ClientBase, identifier: string, i: number): Promise<void> {
    await client.query('begin');
    await client.query(`select ${this.schema}.add_job($1, $2::json)`, [identifier, JSON.stringify({ i })]);
    await client.query('commit');
  }

  /** One task per transaction on a connection taken from `pool` for it. */
  async #addJobOn(pool: pg.Pool, identifier: string, i: number): Promise<void> {
    const client = await pool.connect();
    try {
      await this.#addJob(client, identifier, i);
    } catch (error) {
      await client.query('rollback').catch(() => {});
      throw error;
    } finally {
      client.release();
    }
  }

  async enqueueEach(count: number): Promise<number> {
    const client = await this.pool.connect();
    let ms: number;
    try {
      const started = performance.now();
      for (let i = 0; i < count; i++) await this.#addJob(client, 'enqueue_each', i);
      ms = performance.now() - started;
    } finally {
      client.release();
      await this.#clear();
    }
    return ms;
  }

  async #addJobs(identifier: string, count: number, size: number): Promise<void> {
    await produceBatches(count, size, (args) =>
      this.#utils!.addJobs(args.map((payload) => ({ identifier, payload }))),
    );
  }

  async enqueueBatches(count: number, size: number): Promise<number> {
    try {
      const started = performance.now();
      await this.#addJobs('enqueue_batch', count, size);
      return performance.now() - started;
    } finally {
      await this.#clear();
    }
  }

  /** Adds `count` jobs with one statement, due now or in a day. */
  async #fill(identifier: string, count: number, due: boolean): Promise<void> {
    await this.pool.query(
      `select count(*) from ${this.schema}.add_jobs(array(
         select row($1::text, json_build_object('i', i), null, case when $3 then now() else now() + interval '1 day' end,
                    null, null, null, null)::${this.schema}.job_spec
         from generate_series(1, $2::int) as i))`,
      [identifier, count, due],
    );
  }

  /** Empties the jobs table and vacuums it, so that the next measurement starts as fresh as the others' tables. */
  async #clear(): Promise<void> {
    await this.pool.query(`delete from ${this.schema}._private_jobs`);
    await this.pool.query(`vacuum analyze ${this.schema}._private_jobs`);
  }

  async #due(): Promise<number> {
    const { rows } = await this.pool.query<{ count: string }>(
      `select count(*) from ${this.schema}._private_jobs where run_at <= now()`,
    );
    return Number(rows[0]!.count);
  }

  async drain(variant: DrainVariant, input: DrainInput): Promise<DrainRun> {
    let runner: Runner | undefined;
    try {
      const filling = performance.now();
      const fill = input.fill ?? 'series';
      if (fill === 'series') {
        await this.#fill('noop', input.tasks, true);
        // Finished jobs are deleted, so the backlog is jobs not yet due.
        if (input.backlog) await this.#fill('noop', input.backlog, false);
        await this.pool.query(`vacuum analyze ${this.schema}._private_jobs`);
      } else if (fill === 'each') {
        await produce(input.tasks, FILL_PRODUCERS, (i) => this.#addJobOn(this.pool, 'noop', i));
      } else {
        await this.#addJobs('noop', input.tasks, FILL_BATCH);
      }
      const fillMs = performance.now() - filling;
      let done = 0;
      const clock = new HandlerClock();
      const finishedAll = deferred<void>();
      runner = await this.#run({
        concurrency: input.concurrency,
        taskList: {
          noop: async () => {
            clock.tick();
            if (++done === input.tasks) finishedAll.resolve();
          },
        },
        // Not started until the timer below starts: run() resolves once the pool is listening.
        ...(variant.name === 'batched' ? BATCHED : {}),
      });
      this.log.reset();
      input.onStart?.();
      const started = performance.now();
      const deadline = started + input.timeLimitMs;
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([
        finishedAll.promise,
        new Promise((resolve) => {
          timer = setTimeout(resolve, input.timeLimitMs);
        }),
      ]);
      clearTimeout(timer);
      const recorded = await pollUntil(async () => (await this.#due()) === 0, deadline);
      const ms = performance.now() - started;
      const statements = this.log.counts();
      const claimMs = [...(this.log.kinds.get('claim')?.samples ?? [])];
      const capped = !recorded || done < input.tasks;
      return {
        tasks: Math.min(done, input.tasks),
        ms,
        capped,
        statements,
        claimMs,
        fillMs,
        ...clock.since(started),
      };
    } finally {
      if (runner) await stop(runner);
      await this.#clear();
    }
  }

  async latency(variant: LatencyVariant): Promise<number[]> {
    let started = deferred<number>();
    const runner = await this.#run({
      concurrency: 10,
      taskList: { latency: async () => started.resolve(performance.now()) },
    });
    const client = await this.pool.connect();
    const latencies: number[] = [];
    try {
      for (let i = 0; i < variant.samples; i++) {
        await gap(variant);
        started = deferred<number>();
        await this.#addJob(client, 'latency', i);
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

  async steady(_variant: SteadyVariant, input: SteadyInput): Promise<SteadySession> {
    const producers = instrumentedPool({ connectionString: this.url, max: input.producers }, this.log);
    const runner = await this.#run({
      concurrency: input.concurrency,
      taskList: { noop: async (payload) => input.onStart((payload as { i: number }).i) },
      ...BATCHED,
    });
    return {
      enqueue: (i) => this.#addJobOn(producers, 'noop', i),
      close: async () => {
        try {
          await stop(runner);
        } finally {
          await this.#clear();
          await producers.end();
        }
      },
    };
  }

  async fillShared(tasks: number): Promise<string> {
    await this.#fill('noop', tasks, true);
    await this.pool.query(`vacuum analyze ${this.schema}._private_jobs`);
    return 'noop';
  }

  async remaining(_identifier: string): Promise<number> {
    return this.#due();
  }

  async consume(identifier: string, concurrency: number): Promise<Consumer> {
    const errors: string[] = [];
    let done = 0;
    const logger = new this.lib.Logger(() => (level, message) => {
      if (level === 'error' || level === 'warning') errors.push(message);
    });
    let runner: Runner | undefined;
    return {
      // run() starts working as soon as it has set up.
      start: async () => {
        runner = await this.lib.run({
          ...this.#shared,
          logger,
          noHandleSignals: true,
          concurrency,
          taskList: {
            [identifier]: async () => {
              done++;
            },
          },
          ...BATCHED,
        });
      },
      get done() {
        return done;
      },
      errors,
      stop: async () => {
        if (runner) await stop(runner);
      },
    };
  }

  async dropShared(_identifier: string): Promise<void> {
    await this.#clear();
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
