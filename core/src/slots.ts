/**
 * Counting what runs at once. `Slots` is the manager's pool (`concurrency`); a `Scope` is one
 * invocation's share of work (a commit hook, a tick), with its own cap, counters and the promises
 * the invocation must keep alive.
 * @module
 */
import { AbortFanout } from './signals.js';
import type { TickReport } from './types.js';

export class Slots {
  #inUse = 0;
  constructor(readonly size: number) {}

  free(): number {
    return Math.max(0, this.size - this.#inUse);
  }

  take(): void {
    this.#inUse++;
  }

  release(): void {
    this.#inUse--;
  }
}

export type Outcome = 'succeeded' | 'failed' | 'retried' | 'released' | 'lost';

export class Scope {
  readonly counts: Pick<TickReport, 'claimed' | 'succeeded' | 'failed' | 'retried'> = {
    claimed: 0,
    succeeded: 0,
    failed: 0,
    retried: 0,
  };
  readonly #pending = new Set<Promise<void>>();
  #waiters: (() => void)[] = [];

  /** The invocation's deadline, shared by the attempts this scope runs. */
  readonly deadline: AbortFanout;

  constructor(
    readonly cap: number,
    readonly signal: AbortSignal | undefined,
  ) {
    this.deadline = new AbortFanout(signal);
  }

  get inflight(): number {
    return this.#pending.size;
  }

  free(): number {
    return Math.max(0, this.cap - this.#pending.size);
  }

  record(outcome: Outcome): void {
    if (outcome === 'succeeded' || outcome === 'failed' || outcome === 'retried') this.counts[outcome]++;
  }

  /** Keeps `work` (which never rejects) until it settles. */
  track(work: Promise<void>): void {
    this.#pending.add(work);
    void work.finally(() => {
      this.#pending.delete(work);
      const waiters = this.#waiters;
      this.#waiters = [];
      for (const wake of waiters) wake();
    });
  }

  /** Resolves when any tracked work settles, or after `timeoutMs`. */
  nextSettled(timeoutMs: number): Promise<void> {
    if (this.#pending.size === 0) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, Math.max(0, timeoutMs));
      this.#waiters.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  /** Resolves when all tracked work, including work tracked while waiting, has settled. */
  async settled(): Promise<void> {
    while (this.#pending.size > 0) await Promise.all([...this.#pending]);
  }
}
