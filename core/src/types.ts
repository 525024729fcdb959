/**
 * Public types shared across the core.
 *
 * Glossary:
 * - **task**: one row of the task table: a task key, a JSON argument and its state.
 * - **commit hook**: what starts the tasks enqueued in a `manager.transaction` right after it commits.
 * - **scanner**: whatever claims due tasks from the table (`tick`, the long-lived runner).
 * - **lease**: a claim's expiry time and fencing token; only the holder of the current token may
 *   complete the task, and an expired lease is rescued by the next scanner.
 * - **invocation**: one serverless request or scheduled event, with its own deadline and `waitUntil`.
 * @module
 */
import type { TaskStatus } from './states.js';

/** A task id: a positive whole number, safe in JSON. */
export type TaskId = number;

/** A task as stored, JSON-serializable; times are ISO-8601 strings from the database clock. */
export interface TaskRow {
  id: TaskId;
  key: string;
  status: TaskStatus;
  arg: unknown;
  /** The marshaled context, as stored. */
  context: string | null;
  /** Runs started so far (claims), including the current one. */
  attempts: number;
  /** `retryTimes + 1` at enqueue time. */
  maxAttempts: number;
  timeoutMs: number;
  runAt: string;
  leaseExpiresAt: string | null;
  leaseToken: string | null;
  /** The error of the latest failed attempt (or rescue); kept after a later success, as history. */
  lastError: string | null;
  /** The dedupe key the task holds. */
  dedupeKey: string | null;
  /** The dedupe key the task held until a later enqueue found it past its `dedupeFor`. */
  releasedDedupeKey: string | null;
  sequenceKey: string | null;
  /** Among due tasks, higher runs first. */
  priority: number;
  parentId: TaskId | null;
  initTimeoutSensitive: boolean;
  createdAt: string;
  updatedAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  /** Why a cancel was requested while the task ran; it ends `cancelled` once its handler settled. */
  cancelReason: string | null;
  /** The task's concurrency group ('' for its task's one group), or null without a limit. */
  concurrencyKey: string | null;
  /** The task's rate-limit group, as `concurrencyKey`. */
  rateKey: string | null;
  /** The schedule that fired the task, or null for a task enqueued otherwise. */
  scheduleId: string | null;
  /** The slot it fired for (ISO-8601), or the time an operator triggered it. */
  scheduledFor: string | null;
  /**
   * Every attempt that ended, oldest first (the last 25): all but a success, which the row itself
   * shows (`startedAt`, `finishedAt`) until a forced rerun moves it here. A rerun starts counting
   * attempts from 1 again, and keeps the history.
   */
  history: AttemptRecord[];
}

/**
 * How an attempt ended: `retried` and `failed` (its handler threw; retried or out of attempts),
 * `cancelled`, `released` (cut short by a stop or the invocation's deadline, not counted),
 * `expired` (its lease ran out: the invocation died or stalled), `succeeded` (a success a rerun moved
 * into the history).
 */
export type AttemptOutcome = 'succeeded' | 'retried' | 'failed' | 'cancelled' | 'released' | 'expired';

/** One ended attempt of a task. Times are ISO-8601 from the database clock. */
export interface AttemptRecord {
  /** Its number among the attempts counted since the task's enqueue or its last rerun. */
  attempt: number;
  startedAt: string | null;
  endedAt: string;
  outcome: AttemptOutcome;
  /** Why it failed, was retried, released or cancelled; null for a success. */
  error: string | null;
}

/**
 * Hands a promise to the runtime so the invocation stays alive until it settles (Cloudflare's
 * `ctx.waitUntil`, Vercel's `waitUntil`). Declared by shape so the core depends on no platform.
 */
export type WaitUntil = (promise: Promise<unknown>) => void;

/** Anything drizzle can run a raw `sql` query on: a database or a transaction, of any Postgres driver. */
export interface SqlExecutor {
  execute(query: import('drizzle-orm').SQL): PromiseLike<unknown>;
}

/** A drizzle Postgres database: an executor that can open transactions. */
export interface TransactionalDatabase extends SqlExecutor {
  transaction<T>(fn: (tx: any) => Promise<T>, config?: any): Promise<T>;
}

/** How long a task holds its dedupe key; see {@link EnqueueOptions.dedupeFor}. */
export type DedupeFor = 'stored' | 'unfinished' | { ms: number };

/** What `enqueueOnce` did: created the task `id`, or found `id` holding the dedupe key. */
export interface EnqueueOnceResult {
  id: TaskId;
  created: boolean;
}

export interface EnqueueOptions {
  /**
   * The transaction to enqueue in. With a transaction of `manager.transaction` the task starts
   * right after that commit; with any other transaction it becomes visible at commit and waits for
   * a scanner; after a rollback it never existed.
   */
  tx?: SqlExecutor;
  /** Run no earlier than this time (a Date, or an ISO-8601 string). */
  runAt?: Date | string;
  /** Run no earlier than this many milliseconds from now (database clock). */
  delayMs?: number;
  /**
   * At most one task per task key and dedupe key holds the key: an enqueue that finds the task
   * holding it creates nothing and returns that task's id (`enqueueOnce` says which happened).
   */
  dedupeKey?: string;
  /**
   * How long a task holds its dedupe key against this enqueue: while it is stored (`'stored'`,
   * until cleanup deletes it), while it is unfinished (`'unfinished'`: not yet succeeded, failed
   * or cancelled), or for `ms` milliseconds from its enqueue (database clock). A task past that
   * gives the key up to this enqueue, which creates a new task. @defaultValue 'stored'
   */
  dedupeFor?: DedupeFor;
  /** Tasks sharing a sequence key run one at a time, in enqueue order. */
  sequenceKey?: string;
  /**
   * Among due tasks, higher runs first (a whole number; within a priority, earlier `run_at`, then
   * enqueue order). @defaultValue the task's `priority`, else 0
   */
  priority?: number;
  /** The caller's context, stored through the task's `ctxMarshaler` (or as JSON without one). */
  context?: unknown;
  /** Where the commit hook of a plain enqueue hands its work; awaited when absent. */
  waitUntil?: WaitUntil;
}

export interface TickOptions {
  /** Stop claiming once this many milliseconds have passed. @defaultValue 10_000 */
  budgetMs?: number;
  /** Most tasks this tick runs at once. @defaultValue the manager's `concurrency` */
  concurrency?: number;
  /** Receives the nested tasks' work so the tick does not wait for it. */
  waitUntil?: WaitUntil;
  /**
   * The invocation's deadline: aborting it stops claiming and aborts running handlers, whose
   * attempts are given back (not counted).
   */
  signal?: AbortSignal;
  /**
   * When `signal` will abort (epoch ms or a Date), if known, as `tickWindow` gives it: a task whose
   * `timeoutMs` would not end before then is not claimed, and the maintenance round this tick
   * runs reports it (`exceeds-tick-window`) when it could not fit in the tick's whole window.
   */
  deadline?: number | Date;
}

export interface TickReport {
  claimed: number;
  succeeded: number;
  failed: number;
  retried: number;
  /** Tasks that ended `cancelled`: an operator's cancel delivered to their handler, or CancelTask thrown. */
  cancelled: number;
  /** Running tasks whose lease had expired, moved back to `initialized` (or `failed` when out of attempts). */
  rescued: number;
  /** Succeeded tasks older than `storageTimeout`, deleted by maintenance. */
  cleaned: number;
  /** Abnormal tasks reported to `checkCallback` by maintenance. */
  abnormal: number;
  /** Tasks this tick's schedule round enqueued (one per schedule and slot that came due). */
  scheduled: number;
  /** Whether this tick ran the maintenance round (at most one instance does per interval). */
  maintenance: boolean;
  durationMs: number;
}

/**
 * Why a task is abnormal: due for longer than `initializedTimeout` without starting, running for
 * longer than `runningTimeout`, failed, or due with a timeout longer than the whole window of the
 * tick that checked (no such tick will claim it).
 */
export type AbnormalReason = 'initialized-too-long' | 'running-too-long' | 'failed' | 'exceeds-tick-window';

export interface AbnormalTask {
  reason: AbnormalReason;
  task: TaskRow;
}

export interface ListTasksFilter {
  status?: TaskStatus | TaskStatus[];
  key?: string;
  /** Only tasks created at or after this time. */
  createdAfter?: Date | string;
  /** Only tasks created before this time. */
  createdBefore?: Date | string;
  /** Only tasks last updated at or after this time. */
  updatedAfter?: Date | string;
  /** Only tasks last updated before this time. */
  updatedBefore?: Date | string;
  /** Keyset pagination: only tasks with an id below this one (the list is newest first). */
  beforeId?: TaskId;
  /** @defaultValue 50, at most 1000 */
  limit?: number;
}

export interface TaskStats {
  byStatus: Record<TaskStatus, number>;
  byKey: Record<string, Record<TaskStatus, number>>;
  /** Age in milliseconds of the oldest due `initialized` task, or null when there is none. */
  oldestInitializedAgeMs: number | null;
}

/** Tasks that finished in one minute (which starts at `minute`, ISO-8601). */
export interface ThroughputPoint {
  minute: string;
  succeeded: number;
  failed: number;
}
