/**
 * What every system under test (gta, graphile-worker, pg-boss, the plain-SQL reference) offers the
 * measurements. Each system runs on its own instrumented node-postgres pool in the same database.
 * @module
 */
import type { StatementLog } from '../statements.js';

export type SystemName = 'gta' | 'graphile-worker' | 'pg-boss' | 'plain-sql';

/** One way to run a system's consumer, e.g. graphile-worker with its batched local queue. */
export interface DrainVariant {
  /** Short name shown in tables and the chart, e.g. `batched`. */
  name: string;
  /** The settings, as written in bench/README.md. */
  settings: string;
  /** Whether the drain target compares against this variant (the peers' best documented settings). */
  best: boolean;
}

export interface DrainRun {
  tasks: number;
  ms: number;
  /** Stopped at the time cap before every task was done; `tasks` is what finished. */
  capped: boolean;
  /** Statements per kind sent while draining. */
  statements: Record<string, number>;
  /** Durations of the claim (fetch) statements, ms. */
  claimMs: number[];
}

export interface DrainInput {
  tasks: number;
  concurrency: number;
  timeLimitMs: number;
  /**
   * Rows besides the due tasks, half finished and half not yet due (only not yet due where
   * finished jobs are deleted): the scale measurement's backlog.
   */
  backlog?: number;
  /** Called when the timed part starts, after the queue was filled. */
  onStart?: () => void;
}

export interface LatencyVariant {
  name: string;
  settings: string;
  /** Samples to take (a polling variant takes fewer: each costs half a poll interval). */
  samples: number;
  /**
   * Before each sample the enqueuer waits a random time up to this (ms), so samples do not line up
   * with a polling consumer's cycle. @defaultValue 2
   */
  gapMs?: number;
}

/** The random pause before a latency sample. */
export function gap(variant: LatencyVariant): Promise<void> {
  return sleep(Math.random() * (variant.gapMs ?? 2));
}

export interface System {
  readonly name: SystemName;
  readonly version: string;
  readonly log: StatementLog;
  readonly drainVariants: DrainVariant[];
  readonly latencyVariants: LatencyVariant[];
  /** Creates the schema; called once per run. */
  setup(): Promise<void>;
  /**
   * `count` tasks, each in its own transaction (BEGIN, enqueue, COMMIT), one after another.
   * Resolves to the milliseconds the enqueuing took, without the setup and cleanup around it.
   */
  enqueueEach(count: number): Promise<number>;
  /** `count` tasks in batches of `size`, each batch one call of the system's batch API; timed the same way. */
  enqueueBatches(count: number, size: number): Promise<number>;
  /** Fills a fresh queue with `tasks` due no-op tasks (untimed), then times draining them. */
  drain(variant: DrainVariant, input: DrainInput): Promise<DrainRun>;
  /** Commit-to-start latencies (ms) of tasks enqueued one at a time on an idle system. */
  latency(variant: LatencyVariant): Promise<number[]>;
  close(): Promise<void>;
}

/** Runs `jobs` with at most `concurrency` at once. */
export async function runLimited<T>(items: T[], concurrency: number, run: (item: T) => Promise<void>) {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await run(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, worker));
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Polls `check` every `everyMs` until it returns true or `deadline` (performance.now()) passes. */
export async function pollUntil(
  check: () => Promise<boolean>,
  deadline: number,
  everyMs = 5,
): Promise<boolean> {
  for (;;) {
    if (await check()) return true;
    if (performance.now() > deadline) return false;
    await sleep(everyMs);
  }
}

/** A promise with its resolve function, for handlers to signal the measurement. */
export function deferred<T>(): { promise: Promise<T>; resolve: (value: T) => void } {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}
