/**
 * Which transaction objects belong to `manager.transaction`, and which tasks each enqueued. A
 * savepoint (`tx.transaction(...)` inside) gets its own list, merged into its parent's only when
 * the savepoint is released; a rolled-back savepoint's tasks are dropped with it.
 * @module
 */
import type { QueuedTask } from './slots.js';
import type { TaskId } from './types.js';

/** A task the commit hook starts: `claimed` when its insert claimed it (it then needs no claim). */
export interface CommittedTask {
  id: TaskId;
  claimed: QueuedTask | null;
}

/**
 * How many more tasks the inserts of one transaction may claim. Shared with its savepoints, and
 * not refunded when one rolls back: the count only bounds how much the commit hook holds at once.
 */
export interface ClaimBudget {
  left: number;
}

/** The tasks a tracked transaction enqueued so far. */
export interface TrackedTransaction {
  tasks: CommittedTask[];
  claims: ClaimBudget;
}

interface Savepointable {
  transaction?: (fn: (tx: any) => Promise<unknown>, config?: unknown) => Promise<unknown>;
}

export class TransactionTracker {
  readonly #tracked = new WeakMap<object, TrackedTransaction>();

  /** Starts tracking `tx`; the returned record fills as tasks are enqueued in it. */
  track(tx: object, claims: ClaimBudget): TrackedTransaction {
    const tracked: TrackedTransaction = { tasks: [], claims };
    this.#tracked.set(tx, tracked);
    const savepointable = tx as Savepointable;
    const openSavepoint = savepointable.transaction?.bind(tx);
    if (openSavepoint) {
      savepointable.transaction = (fn, config) =>
        openSavepoint(async (savepoint: object) => {
          const inner = this.track(savepoint, claims);
          const result = await fn(savepoint);
          tracked.tasks.push(...inner.tasks);
          return result;
        }, config);
    }
    return tracked;
  }

  /** The record of a tracked transaction, or undefined for a transaction gta did not open. */
  enqueuedIn(tx: object): TrackedTransaction | undefined {
    return this.#tracked.get(tx);
  }
}
