/**
 * `dryRun`: no task table reads or writes. Tasks are kept in memory and their handlers run in
 * process after the enclosing transaction commits, with the same retries, timeouts and nested
 * tasks as for real, so application tests can run without a task table.
 * @module
 */
import { runAttempt } from './attempt.js';
import { describeThrown } from './errors.js';
import type { ResolvedOptions } from './options.js';
import { marshalerFor, prepareTask, restoreContext, type TaskRegistry, validateArgument } from './prepare.js';
import type { AbortFanout } from './signals.js';
import type { NewTask } from './storage/index.js';
import { controlSignalOf, retryDelay } from './task.js';
import type { TaskId, TaskRow } from './types.js';

export class DryRun {
  readonly rows = new Map<TaskId, TaskRow>();
  #nextId = 1;

  constructor(
    readonly registry: TaskRegistry,
    readonly options: ResolvedOptions,
  ) {}

  /** Records a prepared task in memory and returns its id; it runs when `run` is called. */
  add(task: NewTask): TaskId {
    const now = new Date().toISOString();
    const id = this.#nextId++;
    this.rows.set(id, {
      id,
      key: task.key,
      status: 'initialized',
      arg: JSON.parse(task.arg),
      context: task.context,
      attempts: 0,
      maxAttempts: task.maxAttempts,
      timeoutMs: task.timeoutMs,
      runAt: task.runAt ?? new Date(Date.now() + task.delayMs).toISOString(),
      leaseExpiresAt: null,
      leaseToken: null,
      lastError: null,
      dedupeKey: task.dedupeKey,
      sequenceKey: task.sequenceKey,
      parentId: task.parentId,
      initTimeoutSensitive: task.initTimeoutSensitive,
      createdAt: now,
      updatedAt: now,
      startedAt: null,
      finishedAt: null,
    });
    return id;
  }

  /** Runs the given tasks in submission order, each through all its attempts, then their children. */
  async run(ids: TaskId[], stop: AbortFanout): Promise<void> {
    await Promise.all([...ids].sort((a, b) => a - b).map((id) => this.#runToEnd(id, stop)));
  }

  async #runToEnd(id: TaskId, stop: AbortFanout): Promise<void> {
    const row = this.rows.get(id);
    const definition = row && this.registry.get(row.key);
    if (!row || !definition) return;
    const update = (patch: Partial<TaskRow>) =>
      Object.assign(row, patch, { updatedAt: new Date().toISOString() });
    const delay = Date.parse(row.runAt) - Date.now();
    if (delay > 0) await sleep(delay);
    for (;;) {
      if (stop.signal?.aborted) return;
      update({ status: 'running', attempts: row.attempts + 1, startedAt: new Date().toISOString() });
      let result: Awaited<ReturnType<typeof runAttempt>>;
      try {
        const arg = await validateArgument(definition, row.arg);
        const context = restoreContext(row.context, marshalerFor(definition, this.options));
        result = await runAttempt({
          definition,
          task: { ...row },
          arg,
          context,
          logger: this.options.logger,
          deadline: undefined,
          stop,
          prepareChild: (child, childArg, childOptions, parentId) =>
            prepareTask(this.registry.resolve(child), childArg, childOptions ?? {}, this.options, {
              parentId,
            }),
        });
      } catch (error) {
        update({ status: 'failed', lastError: describeThrown(error), finishedAt: new Date().toISOString() });
        return;
      }
      if (result.ok) {
        update({ status: 'succeeded', finishedAt: new Date().toISOString() });
        if (definition.cleanSucceeded) this.rows.delete(id);
        await this.run(
          result.children.map((child) => this.add(child)),
          stop,
        );
        return;
      }
      const signal = controlSignalOf(result.thrown);
      const lastError = `attempt ${row.attempts}: ${describeThrown(result.thrown)}`;
      if (signal?.kind === 'cancel' || row.attempts >= row.maxAttempts) {
        update({ status: 'failed', lastError, finishedAt: new Date().toISOString() });
        return;
      }
      update({ status: 'initialized', lastError });
      await sleep(signal?.kind === 'retry-after' ? signal.delayMs : retryDelay(definition, row.attempts));
    }
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));
}
