/**
 * What every system under test (gta, graphile-worker, pg-boss, the plain-SQL reference) offers the
 * measurements. Each system runs on its own instrumented node-postgres pool in the same database.
 * @module
 */
import type { StatementLog } from '../statements.js';

export type SystemName =
  | 'gta'
  | 'graphile-worker'
  | 'graphile-worker@0.18'
  | 'pg-boss'
  | 'pg-boss@12'
  | 'plain-sql';

/**
 * How a drain's queue is filled before the timed part: `series`, one `INSERT … SELECT
 * generate_series` and then `VACUUM ANALYZE` (the reference drain's shape); `each`, through the
 * system's own enqueue API, one task per transaction from {@link FILL_PRODUCERS} connections at
 * once; `batches`, through its batch API, {@link FILL_BATCH} tasks per call. After `each` and
 * `batches` nothing is vacuumed or analyzed: autovacuum does what it does at its defaults.
 */
export type FillMode = 'series' | 'each' | 'batches';

/** Connections enqueuing at once when a queue is filled one task per transaction. */
export const FILL_PRODUCERS = 4;
/** Tasks per call when a queue is filled through a batch API. */
export const FILL_BATCH = 100;

/** Runs `enqueue(i)` for i in [0, count), from `producers` loops at once. */
export async function produce(count: number, producers: number, enqueue: (i: number) => Promise<unknown>) {
  let next = 0;
  const loop = async () => {
    while (next < count) await enqueue(next++);
  };
  await Promise.all(Array.from({ length: Math.min(producers, count) }, loop));
}

/** Runs `enqueue(args)` over [0, count) in slices of `size`, one after another. */
export async function produceBatches(
  count: number,
  size: number,
  enqueue: (args: { i: number }[]) => Promise<unknown>,
) {
  for (let start = 0; start < count; start += size) {
    await enqueue(Array.from({ length: Math.min(size, count - start) }, (_, i) => ({ i: start + i })));
  }
}

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
  /** How long filling the queue took, ms (not part of `ms`). */
  fillMs: number;
  /** When the first and the last handler started, ms after the timed part began. */
  firstTaskMs: number;
  lastTaskMs: number;
}

/** Notes when a drain's first and last handlers start. */
export class HandlerClock {
  #first = Number.NaN;
  #last = Number.NaN;

  /** Called on a handler's first line. */
  readonly tick = (): void => {
    const now = performance.now();
    if (Number.isNaN(this.#first)) this.#first = now;
    this.#last = now;
  };

  /** The first and last starts, ms after `started`. */
  since(started: number): { firstTaskMs: number; lastTaskMs: number } {
    return { firstTaskMs: this.#first - started, lastTaskMs: this.#last - started };
  }
}

/** One way to run a system's consumers while producers enqueue at a fixed rate. */
export interface SteadyVariant {
  name: string;
  settings: string;
  /** Whether the steady-state targets compare against this variant. */
  best: boolean;
  /**
   * How long a task that arrives while the consumer is idle may wait for its next poll (ms); 0
   * when each enqueue wakes it. A step may end with this much of its rate still waiting.
   */
  pollMs: number;
}

export interface SteadyInput {
  /** Connections enqueuing at once; each task is enqueued in a transaction of its own. */
  producers: number;
  /** Handlers at once. */
  concurrency: number;
  /** Called on the first line of task `i`'s handler. */
  onStart: (i: number) => void;
}

/** A queue with its consumers running, for producers to enqueue into. */
export interface SteadySession {
  /**
   * Enqueues task `i` in a transaction of its own (BEGIN, the system's enqueue, COMMIT); the
   * COMMIT goes through the system's instrumented pool, so `timeCommit` reads when it returned.
   */
  enqueue(i: number): Promise<void>;
  /** Stops the consumers, waits until they have, then drops the queue. */
  close(): Promise<void>;
}

/** A system's consumer in a process of its own on a shared queue (the scale-out), set up but not started. */
export interface Consumer {
  /** Starts consuming; resolves once the consumer runs. */
  start(): Promise<void>;
  /** Handlers run so far. */
  readonly done: number;
  /** Errors the consumer raised or logged while running. */
  readonly errors: string[];
  /** Stops it and waits until it has (its last completions written). */
  stop(): Promise<void>;
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
  /** @defaultValue 'series' */
  fill?: FillMode;
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
  readonly steadyVariants: SteadyVariant[];
  /** A fresh queue with the variant's consumers running. */
  steady(variant: SteadyVariant, input: SteadyInput): Promise<SteadySession>;
  /**
   * A fresh queue of `tasks` due no-op tasks any process of the run can drain (filled as the
   * `series` drain is); resolves to its name.
   */
  fillShared(tasks: number): Promise<string>;
  /** Tasks of a shared queue not yet done and recorded. */
  remaining(queue: string): Promise<number>;
  /**
   * Sets up the best drain configuration's consumer on a shared queue (in the calling process), to
   * be started by its `start()`.
   */
  consume(queue: string, concurrency: number): Promise<Consumer>;
  dropShared(queue: string): Promise<void>;
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

/** The first line of an error's message. */
export function messageOf(error: unknown): string {
  return (error instanceof Error ? error.message : String(error)).split('\n')[0]!;
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
