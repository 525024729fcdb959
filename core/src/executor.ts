/**
 * Runs claimed tasks and records their outcome. Nothing here throws: a corrupt row, a handler
 * that misbehaves or a storage failure ends as a recorded outcome or a log entry, and a task whose
 * result could not be written stays `running` until its lease expires and a scanner rescues it.
 * @module
 */
import { type AbortCause, runAttempt } from './attempt.js';
import { describeThrown, firstLine } from './errors.js';
import type { Logger } from './logger.js';
import type { ResolvedOptions } from './options.js';
import { marshalerFor, prepareTask, restoreContext, type TaskRegistry, validateArgument } from './prepare.js';
import { AbortFanout } from './signals.js';
import type { Outcome, Scope, Slots } from './slots.js';
import {
  claimTasks,
  completeTask,
  failTask,
  type LeaseRef,
  type NewTask,
  releaseTask,
  type SelectedRow,
  type StorageContext,
  toTaskRow,
} from './storage/index.js';
import { controlSignalOf, retryDelay, type TaskDefinition } from './task.js';
import type { TaskId, TaskRow } from './types.js';

export interface ExecutorDeps {
  storage: StorageContext;
  registry: TaskRegistry;
  options: ResolvedOptions;
  slots: Slots;
  /** Aborts when the manager stops; running attempts are released back to `initialized`. */
  stopSignal: AbortSignal;
}

export class Executor {
  /** Work of every started task; a set, as a forced rerun may run one id twice at once. */
  readonly #running = new Set<Promise<void>>();
  readonly #stop: AbortFanout;

  constructor(readonly deps: ExecutorDeps) {
    this.#stop = new AbortFanout(deps.stopSignal);
  }

  get logger(): Logger {
    return this.deps.options.logger;
  }

  /** Settles once every task this executor started has finished. */
  async idle(): Promise<void> {
    while (this.#running.size > 0) await Promise.all([...this.#running]);
  }

  /** How many more tasks `scope` may start now. */
  capacity(scope: Scope): number {
    if (this.deps.stopSignal.aborted || scope.signal?.aborted) return 0;
    return Math.min(this.deps.slots.free(), scope.free());
  }

  /** Claims up to the free capacity among due tasks (or only `ids`) and starts them in `scope`. */
  async claimAndStart(scope: Scope, ids?: TaskId[]): Promise<number> {
    const limit = Math.min(this.capacity(scope), ids?.length ?? Number.POSITIVE_INFINITY);
    if (limit <= 0) return 0;
    const rows = await claimTasks(this.deps.storage, {
      limit,
      keys: this.deps.registry.keys(),
      ...(ids ? { ids } : {}),
      leaseMargin: this.deps.options.leaseMargin,
      initializedTimeout: this.deps.options.initializedTimeout,
    });
    for (const row of rows) this.start(row, scope);
    return rows.length;
  }

  /**
   * The commit hook's work: starts the given committed tasks in submission order, as far as the
   * concurrency cap allows (the rest wait for a scanner), and settles when they all finished.
   */
  async runCommitted(ids: TaskId[], scope: Scope): Promise<void> {
    await this.#startQuietly(
      [...ids].sort((a, b) => a - b),
      scope,
    );
    await scope.settled();
  }

  start(row: SelectedRow, scope: Scope): void {
    this.deps.slots.take();
    scope.counts.claimed++;
    const id = Number(row.id);
    const work = (async () => {
      let childIds: TaskId[] = [];
      try {
        const result = await this.#execute(row, scope);
        scope.record(result.outcome);
        childIds = result.childIds;
      } catch (error) {
        this.logger.error(
          { taskId: id, error: describeThrown(error) },
          'task outcome could not be recorded; its lease will expire and a scanner will rescue it',
        );
      } finally {
        this.deps.slots.release();
      }
      // Children start once the parent's slot is free, in submission order.
      if (childIds.length > 0) await this.#startQuietly(childIds, scope);
    })();
    this.#running.add(work);
    void work.finally(() => this.#running.delete(work));
    scope.track(work);
  }

  async #startQuietly(ids: TaskId[], scope: Scope): Promise<void> {
    try {
      await this.claimAndStart(scope, ids);
    } catch (error) {
      this.logger.error(
        { taskIds: ids, error: describeThrown(error) },
        'could not start tasks; a scanner will run them',
      );
    }
  }

  async #execute(row: SelectedRow, scope: Scope): Promise<{ outcome: Outcome; childIds: TaskId[] }> {
    const task = toTaskRow(row);
    const lease: LeaseRef = { id: task.id, leaseToken: row.lease_token! };
    const definition = this.deps.registry.get(task.key);
    const logger = this.logger;
    const done = (outcome: Outcome) => ({ outcome, childIds: [] });
    if (!definition) return done(await this.#fail(lease, task, `no task registered as ${task.key}`, null));

    let context: unknown;
    let arg: unknown;
    try {
      context = restoreContext(task.context, marshalerFor(definition, this.deps.options));
    } catch (error) {
      return done(
        await this.#fail(lease, task, `stored context could not be restored: ${describeThrown(error)}`, null),
      );
    }
    try {
      arg = await validateArgument(definition, task.arg);
    } catch (error) {
      return done(
        await this.#fail(lease, task, `stored argument is invalid: ${describeThrown(error)}`, null),
      );
    }

    const children: NewTask[] = [];
    const result = await runAttempt({
      definition,
      task,
      arg,
      context,
      logger,
      deadline: scope.deadline,
      stop: this.#stop,
      enqueueChild: async (child, childArg, options = {}) => {
        const childDefinition = this.deps.registry.resolve(child);
        children.push(
          await prepareTask(childDefinition, childArg, options, this.deps.options, { parentId: task.id }),
        );
      },
    });

    if (result.ok) {
      const childIds = await completeTask(this.deps.storage, lease, {
        deleteRow: definition.cleanSucceeded,
        children,
      });
      if (childIds === null) return done(this.#lost(task));
      return { outcome: 'succeeded', childIds };
    }
    return done(await this.#afterFailure(lease, task, definition, result.thrown, result.aborted));
  }

  async #afterFailure(
    lease: LeaseRef,
    task: TaskRow,
    definition: TaskDefinition<any, any, any>,
    thrown: unknown,
    aborted: AbortCause | null,
  ): Promise<Outcome> {
    if (aborted?.kind === 'stop') {
      const released = await releaseTask(this.deps.storage, lease);
      return released ? 'released' : this.#lost(task);
    }
    const signal = controlSignalOf(thrown);
    const reason = `attempt ${task.attempts}: ${describeThrown(thrown)}`;
    if (signal?.kind === 'cancel' || task.attempts >= task.maxAttempts) {
      return this.#fail(lease, task, reason, null);
    }
    const delayMs = signal?.kind === 'retry-after' ? signal.delayMs : retryDelay(definition, task.attempts);
    return this.#fail(lease, task, reason, delayMs);
  }

  async #fail(lease: LeaseRef, task: TaskRow, error: string, retryDelayMs: number | null): Promise<Outcome> {
    const recorded = await failTask(this.deps.storage, lease, { error, retryDelayMs });
    if (!recorded) return this.#lost(task);
    const fields = { taskId: task.id, taskKey: task.key, attempt: task.attempts, error: firstLine(error) };
    if (retryDelayMs === null) this.logger.warn(fields, 'task failed');
    else this.logger.info({ ...fields, retryInMs: retryDelayMs }, 'task will retry');
    return retryDelayMs === null ? 'failed' : 'retried';
  }

  #lost(task: TaskRow): Outcome {
    this.logger.warn(
      { taskId: task.id, taskKey: task.key, attempt: task.attempts },
      'lease lost before the result was written (expired and rescued, or rerun); the result is discarded',
    );
    return 'lost';
  }
}
