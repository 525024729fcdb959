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

/** The tasks a tracked transaction enqueued so far, and those its rolled-back savepoints dropped. */
export interface TrackedTransaction {
  tasks: CommittedTask[];
  dropped: TaskId[];
  claims: ClaimBudget;
  /** The savepoint open on this transaction now, if any: what is written through it lands there. */
  savepoint: TrackedTransaction | undefined;
  /** The record of the outermost transaction, the one `manager.transaction` opened. */
  root: TrackedTransaction | undefined;
}

interface Savepointable {
  transaction?: (fn: (tx: any) => Promise<unknown>, config?: unknown) => Promise<unknown>;
}

export class TransactionTracker {
  readonly #tracked = new WeakMap<object, TrackedTransaction>();

  /** `onDropped` hears at once of the tasks a savepoint dropped as it rolled back. */
  constructor(readonly onDropped: (ids: TaskId[]) => void = () => {}) {}

  /** Starts tracking `tx`; the returned record fills as tasks are enqueued in it. */
  track(tx: object, claims: ClaimBudget, root?: TrackedTransaction): TrackedTransaction {
    const tracked: TrackedTransaction = { tasks: [], dropped: [], claims, savepoint: undefined, root };
    this.#tracked.set(tx, tracked);
    const savepointable = tx as Savepointable;
    const openSavepoint = savepointable.transaction?.bind(tx);
    if (openSavepoint) {
      savepointable.transaction = (fn, config) =>
        openSavepoint(async (savepoint: object) => {
          const inner = this.track(savepoint, claims, tracked.root ?? tracked);
          tracked.savepoint = inner;
          try {
            const result = await fn(savepoint);
            tracked.tasks.push(...inner.tasks);
            tracked.dropped.push(...inner.dropped);
            return result;
          } catch (error) {
            const dropped = inner.tasks.map((task) => task.id);
            tracked.dropped.push(...dropped, ...inner.dropped);
            this.onDropped(dropped);
            throw error;
          } finally {
            tracked.savepoint = undefined;
          }
        }, config);
    }
    return tracked;
  }

  /**
   * Where a task enqueued through `tx` is recorded: the innermost savepoint open on it (an insert
   * made through the outer transaction while a savepoint is open rolls back with that savepoint),
   * or undefined for a transaction gta did not open.
   */
  enqueuedIn(tx: object): TrackedTransaction | undefined {
    let tracked = this.#tracked.get(tx);
    while (tracked?.savepoint) tracked = tracked.savepoint;
    return tracked;
  }
}
