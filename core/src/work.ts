/**
 * Counts work in progress (started tasks, releases, the work of a tick or a commit hook) and tells
 * when none is left. A count, not a set of promises: the executor begins and ends thousands of
 * pieces of work a second.
 * @module
 */
export class WorkInProgress {
  #count = 0;
  #whenIdle: (() => void)[] = [];

  /** Work begun and not yet ended. */
  get count(): number {
    return this.#count;
  }

  begin(): void {
    this.#count++;
  }

  end(): void {
    if (--this.#count > 0) return;
    const waiting = this.#whenIdle;
    this.#whenIdle = [];
    for (const resolve of waiting) resolve();
  }

  /** Counts `work` until it settles (it is not to reject; if it did, it would still end). */
  track(work: Promise<void>): void {
    this.begin();
    const end = () => this.end();
    void work.then(end, end);
  }

  /** Resolves when no work is left, including work begun while waiting. */
  idle(): Promise<void> {
    if (this.#count === 0) return Promise.resolve();
    return new Promise((resolve) => this.#whenIdle.push(resolve));
  }
}
