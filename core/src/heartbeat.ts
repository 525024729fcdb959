/**
 * Heartbeats: while an executor runs attempts, it renews all their leases in one statement every
 * `heartbeatInterval`, and reads back the cancels operators asked for meanwhile. A lease covers at
 * most {@link LEASE_HEARTBEATS} heartbeats of a task's timeout (plus `leaseMargin`), so a task of
 * a dead invocation is rescued within seconds, while a healthy task of any length keeps its lease
 * as long as its invocation beats.
 * @module
 */
import { describeThrown } from './errors.js';
import type { Logger } from './logger.js';
import type { AbortCause } from './signals.js';
import { type LeaseRef, leaseKey } from './storage/index.js';

/** Heartbeats a lease lasts without one: a renewal may fail or come late twice without loss. */
export const LEASE_HEARTBEATS = 3;

/** A running attempt the heartbeat renews; `index` is its place in the list, -1 once removed. */
export interface Beating {
  lease: LeaseRef;
  abort: (cause: AbortCause) => void;
  index: number;
}

/** Renews `leases` in one statement: the leases still held, each with the reason of a cancel asked for it. */
export type Renew = (leases: LeaseRef[]) => Promise<Map<string, string | null>>;

export class Heartbeat {
  // An array with swap-removal, not a Set: attempts join and leave thousands of times a second.
  #beating: Beating[] = [];
  #timer: ReturnType<typeof setTimeout> | undefined;
  #beatInFlight = false;

  constructor(
    readonly intervalMs: number,
    readonly renew: Renew,
    readonly logger: Logger,
  ) {}

  /**
   * Beats for the attempt holding `lease` until the returned entry is removed; `abort` is told of
   * a cancel asked for it, or of its lease lost (rescued or rerun elsewhere).
   */
  add(lease: LeaseRef, abort: (cause: AbortCause) => void): Beating {
    const entry: Beating = { lease, abort, index: this.#beating.length };
    this.#beating.push(entry);
    if (!this.#timer && !this.#beatInFlight) this.#timer = setTimeout(this.#beat, this.intervalMs);
    return entry;
  }

  /** Stops beating for an entry {@link add} returned; removing it again does nothing. */
  remove(entry: Beating): void {
    if (entry.index < 0) return;
    const last = this.#beating.pop()!;
    if (last !== entry) {
      this.#beating[entry.index] = last;
      last.index = entry.index;
    }
    entry.index = -1;
    if (this.#beating.length === 0 && this.#timer) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
    }
  }

  readonly #beat = async (): Promise<void> => {
    this.#timer = undefined;
    this.#beatInFlight = true;
    const beating = this.#beating.slice();
    try {
      const renewed = await this.renew(beating.map((entry) => entry.lease));
      for (const entry of beating) {
        // An attempt that ended meanwhile has nothing left to abort.
        if (entry.index < 0) continue;
        const reason = renewed.get(leaseKey(entry.lease));
        if (reason === undefined) entry.abort({ kind: 'lease lost' });
        else if (reason !== null) entry.abort({ kind: 'cancel', reason });
      }
    } catch (error) {
      this.logger.warn(
        { error: describeThrown(error), attempts: beating.length },
        'heartbeat failed; the leases hold for a few more heartbeats',
      );
    }
    this.#beatInFlight = false;
    if (this.#beating.length > 0) this.#timer = setTimeout(this.#beat, this.intervalMs);
  };
}
