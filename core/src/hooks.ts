/**
 * Hooks on a task's attempts (SPEC §15): the manager's `hooks` option, called by the invocation
 * that runs the attempt. A hook cannot break a task: `onStart` is called as the handler starts
 * (the handler's first line runs right after it), the others once the outcome is written, and what a hook throws (or the
 * promise it returns rejects with) is logged, never passed on. An asynchronous hook is not waited
 * for, except that the invocation is kept alive for it (its `waitUntil`, `stop()`).
 * @module
 */
import { describeThrown } from './errors.js';
import type { Logger } from './logger.js';
import { type SelectedRow, toTaskRow } from './storage/index.js';
import type { TaskRow } from './types.js';

/** What every hook is told: the task as its attempt claimed it, and which attempt this was. */
export interface AttemptEvent {
  task: TaskRow;
  /** 1 for the first run, 2 for the first retry, … */
  attempt: number;
}

/** An attempt that ended: how long its handler ran. */
export interface AttemptEndEvent extends AttemptEvent {
  durationMs: number;
}

/** An attempt that failed: the error as stored in the task's `lastError`. */
export interface AttemptFailureEvent extends AttemptEndEvent {
  error: string;
}

export interface TaskHooks {
  /** A handler is starting (its attempt is counted). */
  onStart?(event: AttemptEvent): unknown;
  /** An attempt succeeded and its success was written. */
  onSuccess?(event: AttemptEndEvent): unknown;
  /** An attempt failed and the task will run again (after its retry interval). */
  onRetry?(event: AttemptFailureEvent): unknown;
  /** An attempt failed and the task is `failed`: out of attempts, or `FailTask` thrown. */
  onFailure?(event: AttemptFailureEvent): unknown;
  /** The task ended `cancelled`: an operator's cancel delivered to its handler, or `CancelTask`. */
  onCancel?(event: AttemptEndEvent & { reason: string | null }): unknown;
}

/** How an attempt ended, for the hooks: its outcome and, for a failure or a cancel, why. */
export type HookedEnding =
  | { outcome: 'succeeded' }
  | { outcome: 'retried' | 'failed'; error: string }
  | { outcome: 'cancelled'; reason: string | null };

const HOOK_NAMES = ['onStart', 'onSuccess', 'onRetry', 'onFailure', 'onCancel'] as const;

/** Checks the `hooks` option: an object whose known fields are functions. */
export function invalidHooks(hooks: unknown): string | null {
  if (hooks === undefined) return null;
  if (typeof hooks !== 'object' || hooks === null) return 'hooks must be an object of functions';
  for (const name of HOOK_NAMES) {
    const hook = (hooks as Record<string, unknown>)[name];
    if (hook !== undefined && typeof hook !== 'function') return `hooks.${name} must be a function`;
  }
  return null;
}

/** Calls a manager's hooks, each guarded; `keep` holds on to what an asynchronous hook returned. */
export class HookCaller {
  constructor(
    readonly hooks: TaskHooks | undefined,
    readonly logger: Logger,
  ) {}

  get any(): boolean {
    return this.hooks !== undefined;
  }

  started(row: SelectedRow, keep: (work: Promise<void>) => void): void {
    if (!this.hooks?.onStart) return;
    this.#call('onStart', row, { task: toTaskRow(row), attempt: Number(row.attempts) }, keep);
  }

  ended(
    row: SelectedRow,
    ending: HookedEnding,
    durationMs: number,
    keep: (work: Promise<void>) => void,
  ): void {
    if (!this.hooks) return;
    const [name, event] = eventOf(ending, {
      task: toTaskRow(row),
      attempt: Number(row.attempts),
      durationMs,
    });
    this.#call(name, row, event, keep);
  }

  #call(
    name: (typeof HOOK_NAMES)[number],
    row: SelectedRow,
    event: AttemptEvent,
    keep: (work: Promise<void>) => void,
  ): void {
    const hook = this.hooks?.[name] as ((event: AttemptEvent) => unknown) | undefined;
    if (!hook) return;
    const complain = (error: unknown) =>
      this.logger.error(
        { taskId: Number(row.id), taskKey: row.task_key, hook: name, error: describeThrown(error) },
        'a hook threw; the task is not affected',
      );
    try {
      const returned = hook.call(this.hooks, event);
      if (returned && typeof (returned as PromiseLike<unknown>).then === 'function') {
        keep(Promise.resolve(returned).then(() => {}, complain));
      }
    } catch (error) {
      complain(error);
    }
  }
}

/** The hook an ending calls, and what it is told. */
function eventOf(
  ending: HookedEnding,
  base: AttemptEndEvent,
): [(typeof HOOK_NAMES)[number], AttemptEndEvent] {
  switch (ending.outcome) {
    case 'succeeded':
      return ['onSuccess', base];
    case 'retried':
    case 'failed': {
      const failure: AttemptFailureEvent = { ...base, error: ending.error };
      return [ending.outcome === 'retried' ? 'onRetry' : 'onFailure', failure];
    }
    case 'cancelled': {
      const cancel: AttemptEndEvent & { reason: string | null } = { ...base, reason: ending.reason };
      return ['onCancel', cancel];
    }
  }
}
