/**
 * One attempt of a handler: its context object, its deadline, and a result that never rejects,
 * whatever the handler does (throws a non-Error, hangs, never settles).
 *
 * An attempt is a single object, which is also the handler's `ctx`: the executor runs thousands
 * of attempts a second, and the promises, closures and timers of an attempt built of parts were a
 * large share of its work, and the garbage collector's.
 * @module
 */

import type { Beating, Heartbeat } from './heartbeat.js';
import type { Logger } from './logger.js';
import type { AbortCause, AbortFanout } from './signals.js';
import { type LeaseRef, type NewTask, type SelectedRow, slotOf, toTaskRow } from './storage/index.js';
import type { ChildEnqueueOptions, TaskContext, TaskDefinition } from './task.js';
import type { TaskRow } from './types.js';

export type { AbortCause } from './signals.js';

export type AttemptResult =
  | {
      ok: true /** The nested tasks the handler enqueued, prepared, in submission order. */;
      children: NewTask[];
    }
  | { ok: false; thrown: unknown; aborted: AbortCause | null };

/**
 * The task row as claimed: whole, or as the storage selected it, mapped on the first read of
 * `ctx.task` (most handlers never read it).
 */
export type AttemptTask = { task: TaskRow } | { row: SelectedRow };

export type AttemptInput = AttemptTask & {
  definition: TaskDefinition<any, any, any>;
  arg: unknown;
  context: unknown;
  logger: Logger;
  /** The invocation's deadline. */
  deadline: AbortFanout | undefined;
  /** The manager's stop. */
  stop: AbortFanout | undefined;
  /** Prepares a nested task of `parentId`; rejects with a typed error for bad input. */
  prepareChild: PrepareChild;
  /** How long an aborted attempt waits for its handler to settle (see {@link ABORT_GRACE_MS}). */
  abortGraceMs: number;
  /**
   * The heartbeat the attempt joins with its lease while it runs, which may abort it (a cancel
   * asked for the task, its lease lost).
   */
  beat?: { heartbeat: Heartbeat; lease: LeaseRef };
};

export type PrepareChild = (
  task: TaskDefinition<any, any, any> | string,
  arg: unknown,
  options: ChildEnqueueOptions | undefined,
  parentId: number,
) => Promise<NewTask>;

export class AttemptAborted extends Error {
  constructor(readonly abortCause: AbortCause) {
    super(abortMessage(abortCause));
    this.name = 'AttemptAborted';
  }
}

/**
 * How long an aborted attempt waits, at most, for its handler to settle before it is given up on
 * (its outcome written, its slot and its row freed): long enough for a handler that heeds
 * `ctx.signal` to unwind, so that the next task (or this one's retry) does not start beside it;
 * short enough to fit in an invocation's safety margin. The executor shortens it to half the
 * lease margin, so that the outcome is written while the lease still holds. A handler still
 * running after it is abandoned.
 */
export const ABORT_GRACE_MS = 500;

function abortMessage(cause: AbortCause): string {
  switch (cause.kind) {
    case 'timeout':
      return `attempt timed out after ${cause.timeoutMs} ms`;
    case 'deadline':
      return 'attempt aborted: the invocation reached its deadline';
    case 'stop':
      return 'attempt aborted: the manager is stopping';
    case 'cancel':
      return `task cancelled: ${cause.reason}`;
    case 'lease lost':
      return 'attempt aborted: its lease was lost (the task was rescued or rerun elsewhere)';
  }
}

const SUCCEEDED: AttemptResult = Object.freeze({
  ok: true,
  children: Object.freeze([]) as unknown as NewTask[],
});

/**
 * Runs the handler once, after the current synchronous work, with a timeout; settles when the
 * handler settles (and the nested tasks it enqueued are prepared) or the attempt is aborted.
 */
export function runAttempt(input: AttemptInput): Promise<AttemptResult> {
  return Attempt.run(input);
}

class Attempt implements TaskContext<unknown> {
  readonly attempt: number;
  readonly context: unknown;
  readonly logger: Logger;
  // The input's fields, not the input: an attempt may outlive a young-generation collection or
  // two, and what it holds on to then is promoted and costs a full collection later.
  readonly #definition: TaskDefinition<any, any, any>;
  readonly #arg: unknown;
  readonly #row: SelectedRow | undefined;
  readonly #id: number;
  readonly #deadline: AbortFanout | undefined;
  readonly #stop: AbortFanout | undefined;
  readonly #prepareChild: PrepareChild;
  readonly #timeoutMs: number;
  readonly #abortGraceMs: number;
  readonly #beat: AttemptInput['beat'];
  #beating: Beating | undefined;
  #task: TaskRow | undefined;
  #resolve: ((result: AttemptResult) => void) | undefined;
  #done = false;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #abortedWith: AttemptAborted | undefined;
  /** Whether the handler was called and has not settled yet. */
  #handlerRunning = false;
  /** An aborted attempt's result, written once the handler settles or the grace is over. */
  #afterAbort: AttemptResult | undefined;
  // Made on first read of `ctx.signal`: a quick handler that never reads it costs no controller.
  #controller: AbortController | undefined;
  #children: Promise<NewTask>[] | undefined;
  /** The timer's callback (called without a cause) and the abort fan-outs' listener. */
  readonly #onAbort: (cause?: AbortCause) => void = (cause) =>
    this.#abort(cause ?? { kind: 'timeout', timeoutMs: this.#timeoutMs });

  private constructor(input: AttemptInput) {
    if ('task' in input) {
      this.#task = input.task;
      this.#id = input.task.id;
      this.attempt = input.task.attempts;
      this.#timeoutMs = input.task.timeoutMs;
    } else {
      this.#row = input.row;
      this.#id = Number(input.row.id);
      this.attempt = Number(input.row.attempts);
      this.#timeoutMs = Number(input.row.timeout_ms);
    }
    this.#definition = input.definition;
    this.#arg = input.arg;
    this.#deadline = input.deadline;
    this.#stop = input.stop;
    this.#prepareChild = input.prepareChild;
    this.#abortGraceMs = input.abortGraceMs;
    this.#beat = input.beat;
    this.context = input.context;
    this.logger = input.logger;
  }

  static run(input: AttemptInput): Promise<AttemptResult> {
    const attempt = new Attempt(input);
    return new Promise((resolve) => {
      attempt.#resolve = resolve;
      attempt.#timer = setTimeout(attempt.#onAbort, attempt.#timeoutMs);
      attempt.#deadline?.add(attempt.#onAbort);
      attempt.#stop?.add(attempt.#onAbort);
      if (attempt.#beat)
        attempt.#beating = attempt.#beat.heartbeat.add(attempt.#beat.lease, attempt.#onAbort);
      // Never inside the caller's synchronous work (the executor starting a batch of tasks).
      if (!attempt.#done) queueMicrotask(() => attempt.#callHandler());
    });
  }

  get task(): TaskRow {
    this.#task ??= toTaskRow(this.#row!);
    return this.#task;
  }

  get scheduledFor(): Date | null {
    const slot = this.#row ? slotOf(this.#row) : null;
    return slot === null ? null : new Date(slot);
  }

  get signal(): AbortSignal {
    if (!this.#controller) {
      this.#controller = new AbortController();
      if (this.#abortedWith) this.#controller.abort(this.#abortedWith);
    }
    return this.#controller.signal;
  }

  /** An own property, so that a handler may take it out of `ctx` and call it on its own. */
  readonly enqueue: TaskContext['enqueue'] = (child, arg, options) => {
    const pending = this.#prepareChild(child, arg, options, this.#id);
    pending.catch(() => {});
    this.#children ??= [];
    this.#children.push(pending);
  };

  #callHandler(): void {
    if (this.#done) return;
    let returned: unknown;
    let pending: boolean;
    try {
      returned = this.#definition.handler(this.#arg, this);
      pending = isThenable(returned);
    } catch (thrown) {
      this.#failWith(thrown);
      return;
    }
    if (pending) {
      this.#handlerRunning = true;
      Promise.resolve(returned).then(
        () => this.#handlerSettled(() => this.#handlerSucceeded()),
        (thrown) => this.#handlerSettled(() => this.#failWith(thrown)),
      );
    } else {
      this.#handlerSucceeded();
    }
  }

  /** The handler settled: after an abort, the abort's result is written now; else `then` runs. */
  #handlerSettled(then: () => void): void {
    this.#handlerRunning = false;
    if (this.#afterAbort) this.#finish(this.#afterAbort);
    else then();
  }

  #handlerSucceeded(): void {
    if (!this.#children) {
      this.#finish(SUCCEEDED);
      return;
    }
    Promise.all(this.#children).then(
      (children) => this.#finish({ ok: true, children }),
      (thrown) => this.#failWith(thrown),
    );
  }

  #failWith(thrown: unknown): void {
    this.#finish({ ok: false, thrown, aborted: thrown instanceof AttemptAborted ? thrown.abortCause : null });
  }

  #abort(cause: AbortCause): void {
    if (this.#done || this.#abortedWith) return;
    this.#abortedWith = new AttemptAborted(cause);
    this.#controller?.abort(this.#abortedWith);
    const result: AttemptResult = { ok: false, thrown: this.#abortedWith, aborted: cause };
    if (!this.#handlerRunning) {
      this.#finish(result);
      return;
    }
    // The handler holds its slot (and its task its row) while it unwinds, up to the grace.
    this.#afterAbort = result;
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => this.#finish(result), this.#abortGraceMs);
  }

  #finish(result: AttemptResult): void {
    if (this.#done) return;
    this.#done = true;
    clearTimeout(this.#timer);
    this.#deadline?.delete(this.#onAbort);
    this.#stop?.delete(this.#onAbort);
    if (this.#beating) this.#beat!.heartbeat.remove(this.#beating);
    this.#resolve?.(result);
  }
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return (
    (typeof value === 'object' || typeof value === 'function') &&
    value !== null &&
    typeof (value as { then?: unknown }).then === 'function'
  );
}
