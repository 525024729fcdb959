/**
 * Which transaction objects belong to `manager.transaction`, and which tasks each enqueued. A
 * savepoint (`tx.transaction(...)` inside) gets its own list, merged into its parent's only when
 * the savepoint is released; a rolled-back savepoint's tasks are dropped with it.
 * @module
 */
import type { TaskId } from './types.js';

interface Savepointable {
  transaction?: (fn: (tx: any) => Promise<unknown>, config?: unknown) => Promise<unknown>;
}

export class TransactionTracker {
  readonly #enqueued = new WeakMap<object, TaskId[]>();

  /** Starts tracking `tx`; returns the list that fills as tasks are enqueued in it. */
  track(tx: object): TaskId[] {
    const ids: TaskId[] = [];
    this.#enqueued.set(tx, ids);
    const savepointable = tx as Savepointable;
    const openSavepoint = savepointable.transaction?.bind(tx);
    if (openSavepoint) {
      savepointable.transaction = (fn, config) =>
        openSavepoint(async (savepoint: object) => {
          const inner = this.track(savepoint);
          const result = await fn(savepoint);
          ids.push(...inner);
          return result;
        }, config);
    }
    return ids;
  }

  /** The list of a tracked transaction, or undefined for a transaction gta did not open. */
  enqueuedIn(tx: object): TaskId[] | undefined {
    return this.#enqueued.get(tx);
  }
}
