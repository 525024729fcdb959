/**
 * Prints each task's transitions as its attempts start and end, from the manager's hooks
 * (`onStart`, `onSuccess`, `onRetry`, `onFailure`, `onCancel`): nothing polls the task table.
 * @module
 */
import type { AttemptEvent, TaskHooks, TaskRow } from '@gta/core';
import { errorSummary } from './format.js';

export interface TransitionPrinter {
  /** Give these to `createTaskManager({ hooks })`. */
  hooks: TaskHooks;
  /** Prints nothing more, so that a summary is the last thing printed. Idempotent. */
  stop(): void;
}

export function printTransitions(print: (line: string) => void): TransitionPrinter {
  let stopped = false;
  // Where a task came from is said once, as its first attempt starts.
  const line = (event: AttemptEvent, path: string, detail: string, origin = '') => {
    if (stopped) return;
    print(`task ${event.task.id} ${event.task.key}${origin}: ${path} (${detail})`);
  };
  const attempt = (event: AttemptEvent) => `attempt ${event.attempt}`;
  return {
    hooks: {
      onStart: (event) =>
        line(
          event,
          `${event.attempt === 1 ? 'enqueued' : 'initialized'} → running`,
          `${attempt(event)} of ${event.task.maxAttempts}`,
          event.attempt === 1 ? originOf(event.task) : '',
        ),
      onSuccess: (event) =>
        line(
          event,
          'running → succeeded',
          `${attempt(event)} succeeded in ${Math.round(event.durationMs)} ms`,
        ),
      onRetry: (event) =>
        line(
          event,
          'running → initialized',
          `${attempt(event)} failed: ${errorSummary(event.error)}; it runs again after its retry interval`,
        ),
      onFailure: (event) =>
        line(
          event,
          'running → failed',
          `${attempt(event)} failed: ${errorSummary(event.error)}; it will not run again`,
        ),
      onCancel: (event) =>
        line(event, 'running → cancelled', `cancelled: ${event.reason ?? 'no reason given'}`),
    },
    stop() {
      stopped = true;
    },
  };
}

/** Where a task came from, when not from a request. */
function originOf(task: TaskRow): string {
  if (task.parentId !== null) return ` [nested, enqueued by task ${task.parentId}]`;
  if (task.scheduleId !== null && task.scheduledFor !== null) {
    return ` [schedule ${task.scheduleId}, slot ${new Date(task.scheduledFor).toTimeString().slice(0, 8)}]`;
  }
  return '';
}
