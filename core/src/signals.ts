/**
 * One listener on a long-lived signal (the manager's stop, an invocation's deadline), fanned out
 * to every running attempt: adding a listener per attempt would pile up on the shared signal.
 *
 * The listeners are an array, not a `Set`: a `Set` that grows and shrinks with every batch of
 * attempts rehashes each time, and V8 links each old table to its successor. Once one table was
 * promoted to the old generation, that chain kept every later table, with the attempts it listed
 * (their rows, their timers), alive through young-generation collections: draining 100,000 quick
 * tasks promoted about 55 MB more and needed more full collections.
 * @module
 */

/**
 * Why an attempt's signal aborted: its timeout, the invocation's deadline, the manager's stop, an
 * operator's cancel (delivered by a heartbeat), or its lease lost to another instance (rescued
 * after the heartbeats stalled, or rerun by force).
 */
export type AbortCause =
  | { kind: 'timeout'; timeoutMs: number }
  | { kind: 'deadline' }
  | { kind: 'stop' }
  | { kind: 'cancel'; reason: string }
  | { kind: 'lease lost' };

export type AbortListener = (cause: AbortCause) => void;

export class AbortFanout {
  readonly #listeners: AbortListener[] = [];

  /** `cause` is what the listeners are told when `signal` aborts. */
  constructor(
    readonly signal: AbortSignal | undefined,
    readonly cause: AbortCause,
  ) {
    signal?.addEventListener(
      'abort',
      () => {
        const listeners = this.#listeners.splice(0);
        for (const listener of listeners) listener(cause);
      },
      { once: true },
    );
  }

  /** Calls `listener` when the signal aborts, at once if it already has. */
  add(listener: AbortListener): void {
    if (!this.signal) return;
    if (this.signal.aborted) listener(this.cause);
    else this.#listeners.push(listener);
  }

  /** Forgets `listener`; the order of the others does not matter, so the last one takes its place. */
  delete(listener: AbortListener): void {
    const listeners = this.#listeners;
    const index = listeners.lastIndexOf(listener);
    if (index === -1) return;
    listeners[index] = listeners[listeners.length - 1]!;
    listeners.pop();
  }
}
