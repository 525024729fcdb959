/**
 * One attempt of a handler: its context object, its deadline, and a result that never rejects,
 * whatever the handler does (throws a non-Error, hangs, never settles).
 * @module
 */
import type { Logger } from './logger.js';
import type { AbortFanout } from './signals.js';
import type { ChildEnqueueOptions, TaskContext, TaskDefinition } from './task.js';
import type { TaskRow } from './types.js';

/** Why an attempt's signal aborted. */
export type AbortCause = { kind: 'timeout'; timeoutMs: number } | { kind: 'deadline' } | { kind: 'stop' };

export type AttemptResult = { ok: true } | { ok: false; thrown: unknown; aborted: AbortCause | null };

export interface AttemptInput {
  definition: TaskDefinition<any, any, any>;
  task: TaskRow;
  arg: unknown;
  context: unknown;
  logger: Logger;
  /** The invocation's deadline. */
  deadline: AbortFanout | undefined;
  /** The manager's stop. */
  stop: AbortFanout | undefined;
  /** Buffers a nested task; the returned promise rejects with a typed error for bad input. */
  enqueueChild: (
    task: TaskDefinition<any, any, any> | string,
    arg: unknown,
    options?: ChildEnqueueOptions,
  ) => Promise<void>;
}

export class AttemptAborted extends Error {
  constructor(readonly abortCause: AbortCause) {
    super(
      abortCause.kind === 'timeout'
        ? `attempt timed out after ${abortCause.timeoutMs} ms`
        : abortCause.kind === 'deadline'
          ? 'attempt aborted: the invocation reached its deadline'
          : 'attempt aborted: the manager is stopping',
    );
    this.name = 'AttemptAborted';
  }
}

/** Runs the handler once with a timeout; settles when the handler settles or the signal aborts. */
export async function runAttempt(input: AttemptInput): Promise<AttemptResult> {
  const { definition, task } = input;
  const controller = new AbortController();
  const timeoutMs = task.timeoutMs;
  const abortWith = (cause: AbortCause) => {
    if (!controller.signal.aborted) controller.abort(new AttemptAborted(cause));
  };
  const timer = setTimeout(() => abortWith({ kind: 'timeout', timeoutMs }), timeoutMs);
  const unsubscribeDeadline = input.deadline?.subscribe(() => abortWith({ kind: 'deadline' }));
  const unsubscribeStop = input.stop?.subscribe(() => abortWith({ kind: 'stop' }));

  const pendingChildren: Promise<void>[] = [];
  const ctx: TaskContext<any> = {
    task,
    attempt: task.attempts,
    signal: controller.signal,
    context: input.context,
    logger: input.logger,
    enqueue: (child, arg, options) => {
      const pending = input.enqueueChild(child, arg, options);
      pending.catch(() => {});
      pendingChildren.push(pending);
    },
  };

  const aborted = new Promise<never>((_, reject) => {
    const rejectWithReason = () => reject(controller.signal.reason);
    if (controller.signal.aborted) rejectWithReason();
    else controller.signal.addEventListener('abort', rejectWithReason, { once: true });
  });
  aborted.catch(() => {});
  try {
    await Promise.race([Promise.resolve().then(() => definition.handler(input.arg, ctx)), aborted]);
    await Promise.race([Promise.all(pendingChildren), aborted]);
    return { ok: true };
  } catch (thrown) {
    const cause = thrown instanceof AttemptAborted ? thrown.abortCause : null;
    return { ok: false, thrown, aborted: cause };
  } finally {
    clearTimeout(timer);
    unsubscribeDeadline?.();
    unsubscribeStop?.();
  }
}
