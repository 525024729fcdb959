/**
 * Counting what runs at once. `Slots` is the manager's pool (`concurrency`); a `Scope` is one
 * invocation's share of work (a commit hook, a tick), with its own cap, counters, the tasks it
 * claimed ahead of a free slot, and the promises the invocation must keep alive.
 *
 * A slot belongs to a handler: it is taken when the handler starts and freed as soon as the
 * handler settles, while its outcome may still be on its way to the database. A claim reserves the
 * slots its tasks will start in before it is sent, so that nothing else (a commit hook, a nested
 * task's claim) takes them while it is on its way: the cap then holds at every instant.
 * @module
 */
import { AbortFanout } from './signals.js';
import type { SelectedRow } from './storage/index.js';
import type { TickReport } from './types.js';
import { WorkInProgress } from './work.js';

/** A count of slots in use or reserved, under a size. */
export class Slots {
  #inUse = 0;
  #reserved = 0;
  constructor(readonly size: number) {}

  /** Slots neither in use nor reserved. */
  free(): number {
    return Math.max(0, this.size - this.#inUse - this.#reserved);
  }

  /** Reserves up to `wanted` free slots; returns how many it reserved. */
  reserve(wanted: number): number {
    const reserved = Math.max(0, Math.min(wanted, this.free()));
    this.#reserved += reserved;
    return reserved;
  }

  /** Gives back `count` reserved slots that were not used. */
  unreserve(count: number): void {
    this.#reserved -= count;
  }

  /** Takes a slot: a reserved one when `reserved`, else a free one (the caller checked there is one). */
  take(reserved = false): void {
    if (reserved) this.#reserved--;
    this.#inUse++;
  }

  release(): void {
    this.#inUse--;
  }
}

export type Outcome = 'succeeded' | 'failed' | 'retried' | 'cancelled' | 'released' | 'lost';

/** A task claimed ahead of a free slot. */
export interface QueuedTask {
  row: SelectedRow;
  /** Epoch ms after which it may no longer start (its lease allowance for the wait ends). */
  startBy: number;
}

export class Scope {
  readonly counts: Pick<TickReport, 'claimed' | 'succeeded' | 'failed' | 'retried' | 'cancelled'> = {
    claimed: 0,
    succeeded: 0,
    failed: 0,
    retried: 0,
    cancelled: 0,
  };
  /** Tasks claimed ahead, in run order, waiting for a handler of this scope to free a slot. */
  readonly queue: QueuedTask[] = [];
  #recheck: { timer: ReturnType<typeof setTimeout>; at: number } | undefined;
  readonly #work = new WorkInProgress();
  #workEnded = 0;
  #waiters: { ready: () => boolean; wake: () => void }[] = [];
  #running = 0;
  /** Slots of this scope's cap that its claims in flight reserved. */
  #reserved = 0;
  #finished = 0;
  #firstStart: number | null = null;
  #recentArgChars = 0;

  /** The invocation's deadline, shared by the attempts this scope runs. */
  readonly deadline: AbortFanout;

  constructor(
    readonly cap: number,
    readonly signal: AbortSignal | undefined,
    /** Epoch ms after which queued tasks are released instead of started (a tick's budget). */
    readonly startUntil = Number.POSITIVE_INFINITY,
    /**
     * Epoch ms at which `signal` aborts (the invocation ends), when known: a task whose timeout
     * would outlast it is not claimed.
     */
    readonly endsAt = Number.POSITIVE_INFINITY,
  ) {
    this.deadline = new AbortFanout(signal, { kind: 'deadline' });
  }

  /** Tracked work not yet settled: tasks running or having their outcome written, releases. */
  get inflight(): number {
    return this.#work.count;
  }

  /** Pieces of tracked work that have ended so far (a task's outcome written, a release). */
  get workDone(): number {
    return this.#workEnded;
  }

  /** Handlers of this scope running now. */
  get running(): number {
    return this.#running;
  }

  /** Tasks claimed by this scope and not yet recorded: queued, running, or being written. */
  get held(): number {
    return this.queue.length + this.#work.count;
  }

  /** How many more handlers the cap allows now, beyond those running and those reserved. */
  free(): number {
    return Math.max(0, this.cap - this.#running - this.#reserved);
  }

  /** Reserves `count` slots of the cap (the caller checked {@link Scope.free}) for a claim in flight. */
  reserve(count: number): void {
    this.#reserved += count;
  }

  /** Gives back `count` reserved slots that were not used. */
  unreserve(count: number): void {
    this.#reserved -= count;
  }

  /** Handlers finished per millisecond since this scope started its first one. */
  throughput(): number {
    if (this.#firstStart === null) return 0;
    return this.#finished / Math.max(1, Date.now() - this.#firstStart);
  }

  /** Notes the rows a claim of this scope returned, for {@link Scope.averageArgChars}. */
  noteClaimed(rows: SelectedRow[]): void {
    if (rows.length === 0) return;
    let chars = 0;
    for (const row of rows) chars += row.arg.length + (row.context?.length ?? 0);
    this.#recentArgChars = chars / rows.length;
  }

  /**
   * Mean length of the argument and context text of the tasks in this scope's latest claim (0
   * before any): the latest, so that a turn from small arguments to large ones shortens the queue
   * at once.
   */
  averageArgChars(): number {
    return this.#recentArgChars;
  }

  /**
   * Calls `recheck` at `at` (epoch ms), when the queue's head may no longer start, unless a
   * recheck is set for then or earlier: one timer per queue, not one per task that starts.
   */
  recheckQueueAt(at: number, recheck: (scope: Scope) => void): void {
    if (this.#recheck && this.#recheck.at <= at) return;
    this.cancelQueueRecheck();
    const timer = setTimeout(
      () => {
        this.#recheck = undefined;
        recheck(this);
      },
      Math.max(0, at - Date.now()),
    );
    this.#recheck = { timer, at };
  }

  cancelQueueRecheck(): void {
    if (!this.#recheck) return;
    clearTimeout(this.#recheck.timer);
    this.#recheck = undefined;
  }

  /** A handler starts, in a slot its claim reserved when `reserved`. */
  handlerStarted(reserved = false): void {
    if (reserved) this.#reserved--;
    this.#running++;
    this.#firstStart ??= Date.now();
  }

  handlerFinished(): void {
    this.#running--;
    this.#finished++;
    this.#wake();
  }

  record(outcome: Outcome): void {
    if (outcome !== 'released' && outcome !== 'lost') this.counts[outcome]++;
  }

  /** Counts work of this scope (a started task, a release) until {@link Scope.workEnded}. */
  workBegun(): void {
    this.#work.begin();
  }

  workEnded(): void {
    this.#workEnded++;
    this.#work.end();
    this.#wake();
  }

  /** Counts `work` until it settles (it is not to reject; if it did, it would still end). */
  track(work: Promise<void>): void {
    this.workBegun();
    const ended = () => this.workEnded();
    void work.then(ended, ended);
  }

  /**
   * Resolves once `ready()` holds when a handler finishes or tracked work settles, or after
   * `timeoutMs`; at once when no work is tracked. Asking `ready` spares the waiter a wake-up (and
   * a new timer) for every handler that finishes when it only waits for a half-empty queue.
   */
  nextChange(timeoutMs: number, ready: () => boolean = () => true): Promise<void> {
    if (this.#work.count === 0) return Promise.resolve();
    return new Promise((resolve) => {
      const waiter = {
        ready,
        wake: () => {
          clearTimeout(timer);
          resolve();
        },
      };
      const timer = setTimeout(
        () => {
          this.#waiters = this.#waiters.filter((other) => other !== waiter);
          resolve();
        },
        Math.max(0, timeoutMs),
      );
      this.#waiters.push(waiter);
    });
  }

  /** Resolves when all tracked work, including work tracked while waiting, has settled. */
  settled(): Promise<void> {
    return this.#work.idle();
  }

  #wake(): void {
    if (this.#waiters.length === 0) return;
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const waiter of waiters) {
      if (waiter.ready() || this.#work.count === 0) waiter.wake();
      else this.#waiters.push(waiter);
    }
  }
}
