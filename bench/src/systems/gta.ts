/**
 * gta on drizzle-orm's node-postgres driver: enqueue in the caller's transaction, the commit hook
 * for latency and for steady state, and repeated `tick` calls (one process, concurrency 10) for
 * draining.
 * @module
 */
import { performance } from 'node:perf_hooks';
import {
  createTaskManager,
  defineTask,
  type Logger,
  silentLogger,
  type TaskManager,
  type TaskManagerOptions,
} from '@gta/core';
import { drizzle, type NodePgDatabase } from 'drizzle-orm/node-postgres';
import type pg from 'pg';
import {
  type ClaimSizer,
  type Classifier,
  instrumentedPool,
  limitClaimSizer,
  StatementLog,
} from '../statements.js';
import {
  type Consumer,
  type DrainInput,
  type DrainRun,
  type DrainVariant,
  deferred,
  FILL_BATCH,
  FILL_PRODUCERS,
  type FillMode,
  gap,
  HandlerClock,
  type LatencyVariant,
  messageOf,
  produce,
  produceBatches,
  type SteadyInput,
  type SteadySession,
  type SteadyVariant,
  type System,
  sleep,
} from './types.js';

/** Names gta's statements by the fragments that tell them apart (see core/src/storage/). */
export const classifyGta: Classifier = (text) => {
  const sql = text.trimStart().toLowerCase();
  if (/^(begin|commit|rollback)\b/.test(sql)) return sql.split(/\s/)[0]!;
  const completes = /^with (done|kept) as \((update|delete)/.test(sql);
  if (completes && sql.includes('candidates as materialized')) return 'complete+claim';
  if (sql.includes('with candidates as')) return 'claim';
  if (completes || sql.includes("set status = 'succeeded'")) return 'complete';
  if (sql.includes('last_error =') && sql.includes('where id =')) return 'fail';
  if (sql.includes('with expired as')) return 'rescue';
  if (sql.includes('with previous as') || sql.includes('as abnormal') || sql.includes('with old as')) {
    return 'maintenance';
  }
  if (sql.includes('set started_at =')) return 'record start';
  if (sql.includes('insert into')) return 'enqueue';
  return 'other';
};

/** A claim riding with other writes returns one row more than it claimed: the lists of those writes. */
const sizeGtaClaim: ClaimSizer = (kind, text, values, rows) => {
  const size = limitClaimSizer(kind, text, values, rows);
  return size && text.includes('claimed as (') ? { ...size, got: rows - 1 } : size;
};

/** The tick budget of the drain loop: each tick is one cron-sized step. */
export const TICK_BUDGET_MS = 1000;
/** How long the steady-state tick loop waits after a tick that claimed nothing (as the plain-SQL loop). */
export const STEADY_POLL_MS = 50;
/** The steady-state runner's idle scan period: pg-boss 10's shortest polling interval. */
export const RUNNER_SCAN_MS = 500;

let tables = 0;

/** A logger that keeps the warnings and errors gta reports (the scale-out's consumers count them). */
function collectingLogger(into: string[]): Logger {
  const keep = (fields: Record<string, unknown>, message = '') =>
    void into.push(`${message}${fields.error ? `: ${JSON.stringify(fields.error).slice(0, 200)}` : ''}`);
  return { debug: () => {}, info: () => {}, warn: keep, error: keep };
}

export class Gta implements System {
  readonly name = 'gta' as const;
  readonly log = new StatementLog(classifyGta, sizeGtaClaim);
  readonly drainVariants: DrainVariant[] = [
    {
      name: 'tick',
      settings: `repeated manager.tick({ budgetMs: ${TICK_BUDGET_MS}, concurrency: 10 }) until one claims nothing`,
      best: true,
    },
    {
      name: 'tick, cleanSucceeded',
      settings:
        'the same, the task defined with `cleanSucceeded: true`: a success deletes its row, as graphile-worker does with every job it completes',
      best: false,
    },
  ];
  readonly steadyVariants: SteadyVariant[] = [
    {
      name: 'commit hook',
      settings:
        'producers enqueue in manager.transaction(fn, { waitUntil }): after COMMIT the hook starts the task in the producer’s process; the same manager’s runner (manager.start(), defaults) takes what the hook could not start',
      best: true,
      pollMs: 0,
    },
    {
      name: 'tick loop',
      settings: `scanner only: producers enqueue in db.transaction (a transaction gta did not open); one loop of manager.tick({ budgetMs: ${TICK_BUDGET_MS}, concurrency: 10 }), ${STEADY_POLL_MS} ms pause after a tick that claimed nothing`,
      best: false,
      pollMs: STEADY_POLL_MS,
    },
    {
      name: 'runner',
      settings: `scanner only: producers enqueue in db.transaction; manager.start() with scanInterval ${RUNNER_SCAN_MS} ms, instantScanInterval at its default (100 ms)`,
      best: false,
      pollMs: RUNNER_SCAN_MS,
    },
  ];
  readonly latencyVariants: LatencyVariant[];
  readonly pool: pg.Pool;
  readonly db: NodePgDatabase;

  constructor(
    readonly url: string,
    readonly version: string,
    latencySamples: number,
  ) {
    this.pool = instrumentedPool({ connectionString: url, max: 12 }, this.log);
    this.db = drizzle({ client: this.pool });
    this.latencyVariants = [
      {
        name: 'commit hook',
        settings:
          'manager.transaction(fn, { waitUntil }): the insert claims the task; after COMMIT one statement records its start (and proves the commit), then it starts',
        samples: latencySamples,
      },
      {
        name: 'enqueue on its own',
        settings:
          'manager.enqueue(task, arg, { waitUntil }): the insert commits on its own, claimed; the task starts on its reply',
        samples: latencySamples,
      },
    ];
  }

  async setup(): Promise<void> {}

  /** A manager on a fresh task table (or on `options.table`); `run` is called at each handler start. */
  async manager(
    run: (arg: { i: number }) => void,
    concurrency = 10,
    cleanSucceeded = false,
    options: Partial<TaskManagerOptions> & { db?: NodePgDatabase } = {},
  ): Promise<TaskManager> {
    // Unique across the processes of one run (the memory samples run in their own).
    const table = options.table ?? `gta_bench_${process.pid}_${++tables}`;
    const noop = defineTask({ key: 'noop', cleanSucceeded, handler: (arg: { i: number }) => run(arg) });
    const manager = createTaskManager({
      db: this.db,
      logger: silentLogger,
      concurrency,
      ...options,
      table,
      tasks: [noop],
    });
    await manager.migrate();
    return manager;
  }

  async #drop(manager: TaskManager): Promise<void> {
    await this.pool.query(`drop table if exists "${manager.options.table}"`);
  }

  async enqueueEach(count: number): Promise<number> {
    const manager = await this.manager(() => {});
    try {
      const started = performance.now();
      for (let i = 0; i < count; i++) {
        await this.db.transaction((tx) => manager.enqueue('noop', { i }, { tx }));
      }
      return performance.now() - started;
    } finally {
      await this.#drop(manager);
    }
  }

  async enqueueBatches(count: number, size: number): Promise<number> {
    const manager = await this.manager(() => {});
    try {
      const started = performance.now();
      await produceBatches(count, size, (args) =>
        this.db.transaction((tx) => manager.enqueueMany('noop', args, { tx })),
      );
      return performance.now() - started;
    } finally {
      await this.#drop(manager);
    }
  }

  /**
   * Adds `due` tasks due now, then `backlog` more (half finished, half not yet due), each set with
   * one INSERT … SELECT generate_series: what enqueueMany writes, without the client's cost.
   */
  async fill(table: string, due: number, backlog = 0): Promise<void> {
    const insert = (count: number, finishedUpTo: number, dueNow: boolean) =>
      this.pool.query(
        `insert into "${table}" (task_key, status, arg, max_attempts, timeout_ms, run_at, created_at,
           updated_at, started_at, finished_at, attempts)
         select 'noop', case when i <= $2 then 'succeeded' else 'initialized' end, jsonb_build_object('i', i), 1,
           60000, case when i <= $2 then now() - interval '1 hour' when $3 then now() else now() + interval '1 day' end,
           now() - interval '1 hour', now() - interval '1 hour',
           case when i <= $2 then now() - interval '1 hour' end, case when i <= $2 then now() - interval '1 hour' end,
           case when i <= $2 then 1 else 0 end
         from generate_series(1, $1::int) as i`,
        [count, finishedUpTo, dueNow],
      );
    await insert(due, 0, true);
    if (backlog > 0) await insert(backlog, Math.floor(backlog / 2), false);
  }

  /**
   * Fills the manager's table with `tasks` due tasks as `mode` says: through enqueue (one per
   * transaction, a transaction gta did not open, so nothing starts) or enqueueMany; or by SQL.
   */
  async #fillWith(manager: TaskManager, mode: FillMode, tasks: number, backlog = 0): Promise<void> {
    if (mode === 'series') {
      await this.fill(manager.options.table, tasks, backlog);
      await this.pool.query(`vacuum analyze "${manager.options.table}"`);
    } else if (mode === 'each') {
      await produce(tasks, FILL_PRODUCERS, (i) =>
        this.db.transaction((tx) => manager.enqueue('noop', { i }, { tx })),
      );
    } else {
      await produceBatches(tasks, FILL_BATCH, (args) =>
        this.db.transaction((tx) => manager.enqueueMany('noop', args, { tx })),
      );
    }
  }

  async drain(variant: DrainVariant, input: DrainInput): Promise<DrainRun> {
    const clock = new HandlerClock();
    const manager = await this.manager(
      clock.tick,
      input.concurrency,
      variant.name.endsWith('cleanSucceeded'),
    );
    try {
      // The first tick of a fresh table runs the maintenance round; take it out of the timing.
      await manager.tick({ budgetMs: 1, concurrency: 1 });
      const filling = performance.now();
      await this.#fillWith(manager, input.fill ?? 'series', input.tasks, input.backlog);
      const fillMs = performance.now() - filling;
      this.log.reset();
      input.onStart?.();
      const deadline = performance.now() + input.timeLimitMs;
      const started = performance.now();
      let finished = 0;
      while (performance.now() < deadline) {
        const budgetMs = Math.min(TICK_BUDGET_MS, deadline - performance.now());
        if (budgetMs <= 0) break;
        const report = await manager.tick({ budgetMs, concurrency: input.concurrency });
        finished += report.succeeded;
        if (report.claimed === 0) break;
      }
      const ms = performance.now() - started;
      const statements = this.log.counts();
      // Scanner claims mostly ride with completions; both kinds are claim statements.
      const claimMs = ['claim', 'complete+claim'].flatMap((kind) => this.log.kinds.get(kind)?.samples ?? []);
      return {
        tasks: finished,
        ms,
        capped: finished < input.tasks,
        statements,
        claimMs,
        fillMs,
        ...clock.since(started),
      };
    } finally {
      await this.#drop(manager);
    }
  }

  async latency(variant: LatencyVariant): Promise<number[]> {
    let started = deferred<number>();
    const manager = await this.manager(() => started.resolve(performance.now()));
    try {
      const latencies: number[] = [];
      for (let i = 0; i < variant.samples; i++) {
        await gap(variant);
        started = deferred<number>();
        const work: Promise<unknown>[] = [];
        const waitUntil = (promise: Promise<unknown>) => void work.push(promise);
        if (variant.name === 'commit hook') {
          await manager.transaction((tx) => manager.enqueue('noop', { i }, { tx }), { waitUntil });
        } else {
          await manager.enqueue('noop', { i }, { waitUntil });
        }
        const committed = this.log.lastEnd.get(variant.name === 'commit hook' ? 'commit' : 'enqueue')!;
        latencies.push((await started.promise) - committed);
        await Promise.all(work);
      }
      return latencies;
    } finally {
      await this.#drop(manager);
    }
  }

  async steady(variant: SteadyVariant, input: SteadyInput): Promise<SteadySession> {
    const onStart = (arg: { i: number }) => input.onStart(arg.i);
    if (variant.name === 'commit hook') {
      // The producers' transactions and the consumer's statements share the manager's pool.
      const pool = instrumentedPool(
        { connectionString: this.url, max: input.producers + input.concurrency + 2 },
        this.log,
      );
      const manager = await this.manager(onStart, input.concurrency, false, {
        db: drizzle({ client: pool }),
      });
      const work = new Set<Promise<unknown>>();
      const waitUntil = (promise: Promise<unknown>) => {
        work.add(promise);
        void promise.finally(() => work.delete(promise)).catch(() => {});
      };
      manager.start();
      return {
        enqueue: async (i) => {
          await manager.transaction((tx) => manager.enqueue('noop', { i }, { tx }), { waitUntil });
        },
        close: async () => {
          try {
            await manager.stop();
            await Promise.allSettled([...work]);
          } finally {
            await this.#drop(manager);
            await pool.end();
          }
        },
      };
    }
    const producers = instrumentedPool({ connectionString: this.url, max: input.producers }, this.log);
    const producerDb = drizzle({ client: producers });
    const manager = await this.manager(
      onStart,
      input.concurrency,
      false,
      variant.name === 'runner' ? { scanInterval: RUNNER_SCAN_MS } : {},
    );
    let stopping = false;
    let loop: Promise<void> = Promise.resolve();
    if (variant.name === 'runner') {
      manager.start();
    } else {
      await manager.tick({ budgetMs: 1, concurrency: 1 });
      loop = (async () => {
        while (!stopping) {
          const report = await manager.tick({ budgetMs: TICK_BUDGET_MS, concurrency: input.concurrency });
          if (report.claimed === 0 && !stopping) await sleep(STEADY_POLL_MS);
        }
      })();
    }
    return {
      enqueue: async (i) => {
        await producerDb.transaction((tx) => manager.enqueue('noop', { i }, { tx }));
      },
      close: async () => {
        try {
          stopping = true;
          await loop;
          await manager.stop();
        } finally {
          await this.#drop(manager);
          await producers.end();
        }
      },
    };
  }

  async fillShared(tasks: number): Promise<string> {
    const manager = await this.manager(() => {});
    await manager.tick({ budgetMs: 1, concurrency: 1 });
    await this.#fillWith(manager, 'series', tasks);
    return manager.options.table;
  }

  async remaining(table: string): Promise<number> {
    const { rows } = await this.pool.query<{ count: string }>(
      `select count(*) from "${table}" where status <> 'succeeded'`,
    );
    return Number(rows[0]!.count);
  }

  async consume(table: string, concurrency: number): Promise<Consumer> {
    const errors: string[] = [];
    let done = 0;
    const manager = await this.manager(
      () => {
        done++;
      },
      concurrency,
      false,
      { table, logger: collectingLogger(errors) },
    );
    let stopping = false;
    let loop: Promise<void> = Promise.resolve();
    // As a cron invocation does: ticks until one claims nothing.
    const run = async () => {
      while (!stopping) {
        try {
          const report = await manager.tick({ budgetMs: TICK_BUDGET_MS, concurrency });
          if (report.claimed === 0) return;
        } catch (error) {
          errors.push(messageOf(error));
          await sleep(5);
        }
      }
    };
    return {
      start: async () => {
        loop = run();
      },
      get done() {
        return done;
      },
      errors,
      stop: async () => {
        stopping = true;
        await loop;
        await manager.stop();
      },
    };
  }

  async dropShared(table: string): Promise<void> {
    await this.pool.query(`drop table if exists "${table}"`);
  }

  async close(): Promise<void> {
    await this.pool.end();
  }
}
