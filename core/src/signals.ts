/**
 * One listener on a long-lived signal (the manager's stop, an invocation's deadline), fanned out
 * to every running attempt: adding a listener per attempt would pile up on the shared signal.
 * @module
 */

/** Why an attempt's signal aborted. */
export type AbortCause = { kind: 'timeout'; timeoutMs: number } | { kind: 'deadline' } | { kind: 'stop' };

export type AbortListener = (cause: AbortCause) => void;

export class AbortFanout {
  readonly #listeners = new Set<AbortListener>();

  /** `cause` is what the listeners are told when `signal` aborts. */
  constructor(
    readonly signal: AbortSignal | undefined,
    readonly cause: AbortCause,
  ) {
    signal?.addEventListener(
      'abort',
      () => {
        const listeners = [...this.#listeners];
        this.#listeners.clear();
        for (const listener of listeners) listener(cause);
      },
      { once: true },
    );
  }

  /** Calls `listener` when the signal aborts, at once if it already has. */
  add(listener: AbortListener): void {
    if (!this.signal) return;
    if (this.signal.aborted) listener(this.cause);
    else this.#listeners.add(listener);
  }

  delete(listener: AbortListener): void {
    this.#listeners.delete(listener);
  }
}
