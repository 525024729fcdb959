/**
 * gta on drizzle-orm's node-postgres driver: enqueue in the caller's transaction, the commit hook
 * for latency, and repeated `tick` calls (one process, concurrency 10) for draining.
 * @module
 */
import { performance } from 'node:perf_hooks';
import { createTaskManager, defineTask, silentLogger, type TaskManager } from '@gta/core';
import { drizzle, type NodePgDatabase } from 'drizzle-orm/node-postgres';
import type pg from 'pg';
import { type Classifier, instrumentedPool, StatementLog } from '../statements.js';
import {
  type DrainInput,
  type DrainRun,
  type DrainVariant,
  deferred,
  gap,
  type LatencyVariant,
  type System,
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

/** The tick budget of the drain loop: each tick is one cron-sized step. */
export const TICK_BUDGET_MS = 1000;

let tables = 0;

export class Gta implements System {
  readonly name = 'gta' as const;
  readonly log = new StatementLog(classifyGta);
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
  readonly latencyVariants: LatencyVariant[];
  readonly pool: pg.Pool;
  readonly db: NodePgDatabase;

  constructor(
    url: string,
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

  /** A manager on a fresh task table; `run` is called at each handler start. */
  async manager(
    run: (arg: { i: number }) => void,
    concurrency = 10,
    cleanSucceeded = false,
  ): Promise<TaskManager> {
    // Unique across the processes of one run (the memory samples run in their own).
    const table = `gta_bench_${process.pid}_${++tables}`;
    const noop = defineTask({ key: 'noop', cleanSucceeded, handler: (arg: { i: number }) => run(arg) });
    const manager = createTaskManager({
      db: this.db,
      table,
      tasks: [noop],
      logger: silentLogger,
      concurrency,
    });
    await manager.migrate();
    return manager;
  }

  async enqueueEach(count: number): Promise<number> {
    const manager = await this.manager(() => {});
    const started = performance.now();
    for (let i = 0; i < count; i++) {
      await this.db.transaction((tx) => manager.enqueue('noop', { i }, { tx }));
    }
    const ms = performance.now() - started;
    await this.pool.query(`drop table "${manager.options.table}"`);
    return ms;
  }

  async enqueueBatches(count: number, size: number): Promise<number> {
    const manager = await this.manager(() => {});
    const started = performance.now();
    for (let start = 0; start < count; start += size) {
      const args = Array.from({ length: Math.min(size, count - start) }, (_, i) => ({ i: start + i }));
      await this.db.transaction((tx) => manager.enqueueMany('noop', args, { tx }));
    }
    const ms = performance.now() - started;
    await this.pool.query(`drop table "${manager.options.table}"`);
    return ms;
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

  async drain(variant: DrainVariant, input: DrainInput): Promise<DrainRun> {
    const manager = await this.manager(() => {}, input.concurrency, variant.name.endsWith('cleanSucceeded'));
    // The first tick of a fresh table runs the maintenance round; take it out of the timing.
    await manager.tick({ budgetMs: 1, concurrency: 1 });
    await this.fill(manager.options.table, input.tasks, input.backlog);
    await this.pool.query(`vacuum analyze "${manager.options.table}"`);
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
    await this.pool.query(`drop table "${manager.options.table}"`);
    return { tasks: finished, ms, capped: finished < input.tasks, statements, claimMs };
  }

  async latency(variant: LatencyVariant): Promise<number[]> {
    let started = deferred<number>();
    const manager = await this.manager(() => started.resolve(performance.now()));
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
    await this.pool.query(`drop table "${manager.options.table}"`);
    return latencies;
  }

  async close(): Promise<void> {
    await this.pool.end();
  }
}
