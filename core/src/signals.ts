/**
 * One listener on a long-lived signal (the manager's stop, an invocation's deadline), fanned out
 * to every running attempt: adding a listener per attempt would pile up on the shared signal.
 * @module
 */
export class AbortFanout {
  readonly #listeners = new Set<() => void>();

  constructor(readonly signal: AbortSignal | undefined) {
    signal?.addEventListener(
      'abort',
      () => {
        const listeners = [...this.#listeners];
        this.#listeners.clear();
        for (const listener of listeners) listener();
      },
      { once: true },
    );
  }

  /** Calls `listener` when the signal aborts (at once if it already has); returns the unsubscribe. */
  subscribe(listener: () => void): () => void {
    if (!this.signal) return () => {};
    if (this.signal.aborted) {
      listener();
      return () => {};
    }
    this.#listeners.add(listener);
    return () => {
      this.#listeners.delete(listener);
    };
  }
}
