/**
 * The executor's successes and scanner claims, grouped into few statements. At most two
 * statements are in flight; the completions that arrive meanwhile wait and go together in the
 * next one, with the next claim a scanner asked for when there is one. A busy executor so spends
 * one round trip on many tasks, while an idle one writes each outcome at once, without a timer.
 * @module
 */
import {
  type ClaimOptions,
  completeAndClaimTasks,
  leaseKey,
  type SelectedRow,
  type StorageContext,
  type Success,
} from './storage/index.js';

/** Statements in flight at once: a claim need not wait behind the completions in flight. */
export const MAX_IN_FLIGHT = 2;
/** Most completions written by one statement. */
export const MAX_COMPLETION_BATCH = 500;

/**
 * Runs `fn` after the callbacks already due, so that the handlers finishing in one burst (a claimed
 * batch of quick tasks) share a statement: `setImmediate` where there is one (Node, Bun, Deno),
 * else a zero-delay timer (Workers, browsers).
 */
const afterPendingWork: (fn: () => void) => void =
  typeof (globalThis as { setImmediate?: unknown }).setImmediate === 'function'
    ? (fn) => (globalThis as unknown as { setImmediate: (fn: () => void) => void }).setImmediate(fn)
    : (fn) => setTimeout(fn, 0);

interface Pending<T> {
  resolve: (value: T) => void;
  reject: (error: unknown) => void;
}

export class Batcher {
  #completions: (Pending<boolean> & Success)[] = [];
  #claims: (Pending<SelectedRow[]> & { options: ClaimOptions })[] = [];
  #inFlight = 0;
  #scheduled = false;

  constructor(readonly storage: StorageContext) {}

  /**
   * Records a success (transition "complete", the row kept or deleted, no children). Resolves to
   * false when its lease was lost; rejects when the statement failed.
   */
  complete({ id, leaseToken, deleteRow }: Success): Promise<boolean> {
    return new Promise((resolve, reject) => {
      // One object per waiting success: it may wait through a young-generation collection.
      this.#completions.push({ id, leaseToken, deleteRow, resolve, reject });
      this.#schedule();
    });
  }

  /** Claims due tasks (transition "claim") in the next statement, with the completions waiting. */
  claim(options: ClaimOptions): Promise<SelectedRow[]> {
    return new Promise((resolve, reject) => {
      this.#claims.push({ options, resolve, reject });
      this.#schedule();
    });
  }

  #schedule(): void {
    if (this.#scheduled || this.#inFlight >= MAX_IN_FLIGHT) return;
    this.#scheduled = true;
    afterPendingWork(() => {
      this.#scheduled = false;
      void this.#run();
    });
  }

  async #run(): Promise<void> {
    this.#inFlight++;
    while (this.#completions.length > 0 || this.#claims.length > 0) {
      const completions = this.#completions.splice(0, MAX_COMPLETION_BATCH);
      const claim = this.#claims.shift();
      try {
        const { completed, claimed } = await completeAndClaimTasks(this.storage, completions, claim?.options);
        for (const waiting of completions) waiting.resolve(completed.has(leaseKey(waiting)));
        claim?.resolve(claimed);
      } catch (error) {
        for (const waiting of completions) waiting.reject(error);
        claim?.reject(error);
      }
    }
    this.#inFlight--;
  }
}
