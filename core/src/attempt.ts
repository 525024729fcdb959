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

/**
 * The task row as claimed; or, from the executor, a function building it on first read of
 * `ctx.task` (most handlers never read it), with the two fields the attempt itself needs.
 */
export type AttemptTask = { task: TaskRow } | { task: () => TaskRow; attempt: number; timeoutMs: number };

export type AttemptInput = AttemptTask & {
  definition: TaskDefinition<any, any, any>;
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
};

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
  const { definition } = input;
  const lazy = 'attempt' in input;
  const attempt = lazy ? input.attempt : input.task.attempts;
  const timeoutMs = lazy ? input.timeoutMs : input.task.timeoutMs;
  let task = lazy ? undefined : input.task;
  // The AbortController and the row are made on first read: a quick handler that reads neither
  // then costs no more than its own call.
  let controller: AbortController | undefined;
  let abortedWith: AttemptAborted | undefined;
  let rejectAborted!: (reason: AttemptAborted) => void;
  const aborted = new Promise<never>((_, reject) => {
    rejectAborted = reject;
  });
  aborted.catch(() => {});
  const abortWith = (cause: AbortCause) => {
    if (abortedWith) return;
    abortedWith = new AttemptAborted(cause);
    rejectAborted(abortedWith);
    controller?.abort(abortedWith);
  };
  const timer = setTimeout(() => abortWith({ kind: 'timeout', timeoutMs }), timeoutMs);
  const unsubscribeDeadline = input.deadline?.subscribe(() => abortWith({ kind: 'deadline' }));
  const unsubscribeStop = input.stop?.subscribe(() => abortWith({ kind: 'stop' }));

  const pendingChildren: Promise<void>[] = [];
  const ctx: TaskContext<any> = {
    get task() {
      task ??= (input.task as () => TaskRow)();
      return task;
    },
    attempt,
    get signal() {
      if (!controller) {
        controller = new AbortController();
        if (abortedWith) controller.abort(abortedWith);
      }
      return controller.signal;
    },
    context: input.context,
    logger: input.logger,
    enqueue: (child, arg, options) => {
      const pending = input.enqueueChild(child, arg, options);
      pending.catch(() => {});
      pendingChildren.push(pending);
    },
  };

  try {
    await Promise.race([Promise.resolve().then(() => definition.handler(input.arg, ctx)), aborted]);
    if (pendingChildren.length > 0) await Promise.race([Promise.all(pendingChildren), aborted]);
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
