/**
 * The executor's successes, start records and scanner claims, grouped into few statements. At
 * most two statements are in flight; the writes that arrive meanwhile wait and go together in the
 * next one, with the next claim a scanner asked for when there is one. A busy executor so spends
 * one round trip on many tasks, while an idle one writes each at once, without a timer.
 *
 * A start record waits like a success, and when its task succeeds before the record was sent, the
 * start goes with the success instead: a quick task costs no statement of its own for its start.
 * @module
 */
import {
  type Claimed,
  type ClaimOptions,
  type Ending,
  type LeaseRef,
  leaseKey,
  type Success,
  type TaskStore,
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

/** A started attempt of a running task, identified by its lease. */
export interface Start {
  id: number;
  leaseToken: string;
  /** When its handler started (epoch ms, this process's clock). */
  startedAt: number;
}

/**
 * A success waiting for its statement; `startedAt` as in {@link Start}. `retried` once a statement
 * carrying it failed: it goes with the next one, and fails only if that fails too.
 */
type WaitingSuccess = Pending<Ending | false> &
  Omit<Success, 'startedAgoMs'> & { startedAt: number; retried: boolean };

/**
 * A start record not yet written, as {@link Batcher.started} hands it out: the success of its
 * attempt passes it back, and a record still waiting is then left out, as the success writes the
 * start itself.
 */
export interface PendingStart {
  /** Set once the attempt's success is waiting: the record is not sent. */
  superseded: boolean;
}

/** A heartbeat's renewal waiting for its statement. */
type WaitingRenewal = Pending<Map<string, string | null>> & { leases: LeaseRef[]; leaseMs: number };

/** A start waiting for its statement; a caller that waits for it is told whether it was written. */
type WaitingStart = Start & PendingStart & { settle: Pending<boolean> | undefined };

export class Batcher {
  #completions: WaitingSuccess[] = [];
  #starts: WaitingStart[] = [];
  #renewals: WaitingRenewal[] = [];
  #claims: (Pending<Claimed> & { options: ClaimOptions })[] = [];
  #inFlight = 0;
  #scheduled = false;

  constructor(readonly store: TaskStore) {}

  /**
   * Records a success (transition "complete", the row kept or deleted, no children), and the start
   * of its attempt if that was not recorded yet (`start`, the record {@link started} handed out,
   * is then not sent on its own). Resolves to how the task ended (`cancelled` when a cancel was
   * requested meanwhile), or false when its lease was lost; rejects when two statements carrying it
   * failed. A success that a passing fault (a dropped connection) kept from its statement is so
   * written by the next, instead of failing its task when the lease expires; written already (the
   * fault took only the answer), the next statement finds the lease gone and reads it as lost.
   */
  complete(
    success: {
      id: number;
      leaseToken: string;
      deleteRow: boolean;
      startedAt: number;
    },
    start?: PendingStart,
  ): Promise<Ending | false> {
    if (start) start.superseded = true;
    return new Promise((resolve, reject) => {
      // One object per waiting success: it may wait through a young-generation collection.
      const { id, leaseToken, deleteRow, startedAt } = success;
      this.#completions.push({ id, leaseToken, deleteRow, startedAt, retried: false, resolve, reject });
      this.#schedule();
    });
  }

  /**
   * Records, with the next statement, that an attempt's handler started; a success of the attempt
   * given the returned record writes the start instead, if it was not sent yet. Never rejects.
   */
  started(id: number, leaseToken: string, startedAt: number): PendingStart {
    const start: WaitingStart = { id, leaseToken, startedAt, superseded: false, settle: undefined };
    this.#starts.push(start);
    this.#schedule();
    return start;
  }

  /**
   * Records that an attempt's handler is about to start, and resolves once that is written: true
   * when it was, false when the lease was lost; rejects when the statement failed.
   */
  recordStart(start: Start): Promise<boolean> {
    return new Promise((resolve, reject) => {
      this.#starts.push({ ...start, superseded: false, settle: { resolve, reject } });
      this.#schedule();
    });
  }

  /**
   * Renews `leases` to `leaseMs` from now in the next statement, and resolves to those still held,
   * each with the reason of a cancel asked for it (null for none). A lease whose success or start
   * goes in that statement is not renewed there (that statement writes its row already) and reads
   * as held.
   */
  renew(leases: LeaseRef[], leaseMs: number): Promise<Map<string, string | null>> {
    return new Promise((resolve, reject) => {
      this.#renewals.push({ leases, leaseMs, resolve, reject });
      this.#schedule();
    });
  }

  /** Claims due tasks (transition "claim") in the next statement, with the writes waiting. */
  claim(options: ClaimOptions): Promise<Claimed> {
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
    while (
      this.#completions.length > 0 ||
      this.#starts.length > 0 ||
      this.#renewals.length > 0 ||
      this.#claims.length > 0
    ) {
      const completions = this.#completions.splice(0, MAX_COMPLETION_BATCH);
      const starts = this.#takeStarts();
      const renewal = this.#renewals.shift();
      const writing = renewal ? new Set([...completions, ...starts].map(leaseKey)) : undefined;
      const renewing = renewal?.leases.filter((lease) => !writing!.has(leaseKey(lease))) ?? [];
      const claim = this.#claims.shift();
      const now = Date.now();
      try {
        const written = await this.store.writeBatch({
          successes: completions.map(({ id, leaseToken, deleteRow, startedAt }) => ({
            id,
            leaseToken,
            deleteRow,
            startedAgoMs: Math.max(0, now - startedAt),
          })),
          starts: starts.map(({ id, leaseToken, startedAt }) => ({
            id,
            leaseToken,
            agoMs: Math.max(0, now - startedAt),
          })),
          claim: claim?.options,
          ...(renewal ? { renewals: { leases: renewing, leaseMs: renewal.leaseMs } } : {}),
        });
        for (const waiting of completions) waiting.resolve(written.completed.get(leaseKey(waiting)) ?? false);
        for (const start of starts) start.settle?.resolve(written.started.has(leaseKey(start)));
        if (renewal) {
          const renewed = new Map(written.renewed);
          for (const lease of renewal.leases) {
            if (writing!.has(leaseKey(lease))) renewed.set(leaseKey(lease), null);
          }
          renewal.resolve(renewed);
        }
        claim?.resolve(written.claimed);
      } catch (error) {
        for (const waiting of completions) {
          if (waiting.retried) waiting.reject(error);
          else {
            waiting.retried = true;
            this.#completions.push(waiting);
          }
        }
        for (const start of starts) start.settle?.reject(error);
        renewal?.reject(error);
        claim?.reject(error);
      }
    }
    this.#inFlight--;
  }

  /**
   * The waiting starts to send now: all but those whose success waits (the success records the
   * start), so that no row is written twice by one statement.
   */
  #takeStarts(): WaitingStart[] {
    const starts = this.#starts;
    this.#starts = [];
    return starts.filter((start) => !start.superseded);
  }
}
