/**
 * A `waitUntil` for a long-lived Node server: it keeps the commit hook's work off the response
 * path, and lets shutdown wait for that work before the database closes.
 * @module
 */
import type { WaitUntil } from '@gta/core';

export class BackgroundWork {
  readonly #pending = new Set<Promise<unknown>>();

  readonly waitUntil: WaitUntil = (promise) => {
    // The tracked copy never rejects, so a failure cannot surface as an unhandled rejection here.
    const tracked: Promise<unknown> = promise
      .then(
        () => undefined,
        () => undefined,
      )
      .finally(() => this.#pending.delete(tracked));
    this.#pending.add(tracked);
  };

  /** Settles once everything handed over so far, and anything it handed over in turn, has settled. */
  async settled(): Promise<void> {
    while (this.#pending.size > 0) await Promise.all([...this.#pending]);
  }
}
