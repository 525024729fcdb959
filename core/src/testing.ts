/**
 * Helpers for users' own tests: drain everything that is due, and read what was enqueued.
 * @module
 */
import type { TaskManager } from './manager.js';

export { type MemoryTaskTable, memoryTaskTable } from './dry-run.js';

import type { TaskDefinition } from './task.js';
import { emptyReport } from './tick.js';
import type { TaskRow, TickReport } from './types.js';

export interface DrainOptions {
  /** Gives up after this many ticks (a handler that keeps retrying would otherwise loop). @defaultValue 100 */
  maxTicks?: number;
  /** Budget of each tick. @defaultValue 5000 */
  budgetMs?: number;
}

/**
 * Ticks until nothing is due, and returns the summed report. Tasks due later (delays, retry
 * intervals) are not waited for.
 * @example
 * await manager.enqueue(sendWelcome, { userId: 1 }, { tx: someForeignTx });
 * const report = await drain(manager);
 * expect(report.succeeded).toBe(1);
 */
export async function drain(manager: TaskManager, options: DrainOptions = {}): Promise<TickReport> {
  const total: TickReport = { ...emptyReport(), durationMs: 0 };
  const maxTicks = options.maxTicks ?? 100;
  for (let tick = 0; tick < maxTicks; tick++) {
    const report = await manager.tick({ budgetMs: options.budgetMs ?? 5000 });
    for (const field of [
      'claimed',
      'succeeded',
      'failed',
      'retried',
      'cancelled',
      'rescued',
      'cleaned',
      'abnormal',
      'scheduled',
      'durationMs',
    ] as const) {
      total[field] += report[field];
    }
    total.maintenance ||= report.maintenance;
    // A tick whose budget went to rescue and maintenance claims nothing though tasks are due.
    if (report.claimed === 0 && (await manager.stats()).oldestInitializedAgeMs === null) return total;
  }
  throw new Error(`drain: tasks were still being claimed after ${maxTicks} ticks`);
}

/** The stored tasks of one definition (or key), oldest first, to assert what code enqueued. */
export async function enqueuedTasks(
  manager: TaskManager,
  task: TaskDefinition<any, any, any> | string,
): Promise<TaskRow[]> {
  const key = typeof task === 'string' ? task : task.key;
  const rows: TaskRow[] = [];
  let beforeId: number | undefined;
  for (;;) {
    const page = await manager.listTasks({ key, limit: 1000, ...(beforeId ? { beforeId } : {}) });
    rows.push(...page);
    if (page.length < 1000) return rows.reverse();
    beforeId = page[page.length - 1]!.id;
  }
}
