/**
 * Prints task state transitions as they happen. The core has no event hook, so this polls
 * `listTasks` and compares each row with the last one it saw.
 * @module
 */
import { setTimeout as delay } from 'node:timers/promises';
import type { TaskId, TaskManager, TaskRow } from '@gta/core';
import { errorSummary, msBetween } from './format.js';

export interface TaskWatcher {
  /** Stops polling after one last look, so the latest transitions are printed too. Idempotent. */
  stop(): Promise<void>;
}

/** Starts watching once it has taken silent note of the tasks already in the table. */
export async function watchTasks(
  manager: TaskManager,
  { intervalMs, print }: { intervalMs: number; print: (line: string) => void },
): Promise<TaskWatcher> {
  const seen = new Map<TaskId, TaskRow>();
  const look = async (report: boolean) => {
    // Oldest first, so a parent's transition prints before its child appears.
    for (const task of (await manager.listTasks({ limit: 100 })).reverse()) {
      const before = seen.get(task.id);
      seen.set(task.id, task);
      if (report && (before?.status !== task.status || before.attempts !== task.attempts)) {
        print(describeTransition(before, task));
      }
    }
  };
  await look(false);
  if (seen.size > 0) print(`watching tasks (${seen.size} from earlier runs are already in the table)`);

  const halt = new AbortController();
  const loop = (async () => {
    while (!halt.signal.aborted) {
      await delay(intervalMs, undefined, { signal: halt.signal }).catch(() => {});
      await look(true).catch((error: unknown) =>
        print(`watcher could not read the task table: ${String(error)}`),
      );
    }
  })();
  return {
    async stop() {
      halt.abort();
      await loop;
    },
  };
}

/** e.g. `task 3 charge-card: running → initialized (attempt 1 failed: card declined; retry in 500 ms)` */
export function describeTransition(before: TaskRow | undefined, after: TaskRow): string {
  const path = [before?.status ?? 'enqueued'];
  // A claim raises `attempts`: if the watcher missed the `running` state in between, say it happened.
  const ranUnseen = after.attempts > (before?.attempts ?? 0) && after.status !== 'running';
  if (ranUnseen && before?.status !== 'running') path.push('running');
  if (path.at(-1) !== after.status) path.push(after.status);
  const detail = detailOf(after);
  const origin = before === undefined ? originOf(after) : '';
  return `task ${after.id} ${after.key}${origin}: ${path.join(' → ')}${detail ? ` (${detail})` : ''}`;
}

/** Where a task the watcher sees for the first time came from, when not from a request. */
function originOf(task: TaskRow): string {
  if (task.parentId !== null) return ` [nested, enqueued by task ${task.parentId}]`;
  if (task.scheduleId !== null && task.scheduledFor !== null) {
    return ` [schedule ${task.scheduleId}, slot ${new Date(task.scheduledFor).toTimeString().slice(0, 8)}]`;
  }
  return '';
}

function detailOf(task: TaskRow): string {
  const attempt = `attempt ${task.attempts}`;
  switch (task.status) {
    case 'running':
      return `${attempt} of ${task.maxAttempts}`;
    case 'succeeded':
      return `${attempt} succeeded in ${msBetween(task.startedAt, task.finishedAt)} ms`;
    case 'failed':
      return `${attempt} failed: ${errorSummary(task.lastError)}; no retries left`;
    case 'cancelled':
      return `cancelled: ${errorSummary(task.lastError)}`;
    case 'initialized':
      if (task.attempts === 0 || task.lastError === null) return 'waiting to run';
      return `${attempt} failed: ${errorSummary(task.lastError)}; retry in ${msBetween(task.updatedAt, task.runAt)} ms`;
  }
}
