/**
 * The `--once` ending: wait for this run's tasks to settle, print them, and check that the story
 * ended as it should.
 * @module
 */
import { setTimeout as delay } from 'node:timers/promises';
import type { TaskManager, TaskRow } from '@gta/core';
import type { Database } from './database.js';
import { errorSummary, say } from './format.js';
import type { OperatorResult } from './operator.js';
import { leftNothing, type ScenarioResult } from './scenario.js';
import { SALES_REPORT } from './tasks.js';

const TERMINAL: ReadonlySet<TaskRow['status']> = new Set(['succeeded', 'failed']);

/**
 * This run's tasks: the scenario's and the nested ones they enqueued, which get later ids. The data
 * folder persists, so earlier runs' tasks are in the table too and must not count.
 */
async function tasksOfThisRun(manager: TaskManager, result: ScenarioResult): Promise<TaskRow[]> {
  const firstId = Math.min(...result.placed.flatMap((placed) => placed.taskIds));
  const tasks = await manager.listTasks({ limit: 100 });
  return tasks.filter((task) => task.id >= firstId).sort((a, b) => a.id - b.id);
}

/** This run's tasks once all are `succeeded` or `failed`, or as they stand when `timeoutMs` runs out. */
export async function settle(
  manager: TaskManager,
  result: ScenarioResult,
  timeoutMs: number,
): Promise<TaskRow[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const tasks = await tasksOfThisRun(manager, result);
    if (tasks.every((task) => TERMINAL.has(task.status))) return tasks;
    if (Date.now() >= deadline) {
      say(`gave up waiting after ${timeoutMs / 1000} s: some tasks are still pending`);
      return tasks;
    }
    await delay(100);
  }
}

/** A succeeded task of `key` created since `since`, once there is one; undefined after `timeoutMs`. */
export async function awaitScheduledRun(
  manager: TaskManager,
  key: string,
  since: Date,
  timeoutMs: number,
): Promise<TaskRow | undefined> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const [run] = await manager.listTasks({ key, status: 'succeeded', createdAfter: since, limit: 1 });
    if (run) return run;
    if (Date.now() >= deadline) {
      say(`gave up waiting after ${timeoutMs / 1000} s for a run of ${key}`);
      return undefined;
    }
    await delay(100);
  }
}

export function printSummary(tasks: TaskRow[]): void {
  const rows = [
    ['id', 'key', 'status', 'attempts', 'last error'],
    ...tasks.map((task) => [
      String(task.id),
      task.key,
      task.status,
      `${task.attempts}/${task.maxAttempts}`,
      errorSummary(task.lastError),
    ]),
  ];
  const widths = rows[0]!.map((_, column) => Math.max(...rows.map((row) => row[column]!.length)));
  say('summary of this run:');
  for (const row of rows) {
    console.log(`  ${row.map((cell, column) => cell.padEnd(widths[column]!)).join('  ')}`.trimEnd());
  }
}

/** Prints one ✓ or ✗ line per expectation; true when all hold. */
export async function checkOutcome(
  tasks: TaskRow[],
  result: ScenarioResult,
  operator: OperatorResult,
  report: TaskRow | undefined,
  manager: TaskManager,
  database: Database,
): Promise<boolean> {
  const charges = tasks.filter((task) => task.key === 'charge-card');
  const shipments = tasks.filter((task) => task.key === 'book-shipment');
  const confirmations = tasks.filter((task) => task.key === 'send-confirmation');
  const loyalty = tasks.filter((task) => task.key === 'sync-loyalty-points');
  const checks: [boolean, string][] = [
    [
      charges.length === result.placed.length &&
        charges.every((task) => task.status === 'succeeded' && task.attempts === 2),
      'the retried charge-card tasks succeeded (attempt 1 failed, attempt 2 succeeded)',
    ],
    [
      charges.every(
        (charge) =>
          confirmations.filter((child) => child.parentId === charge.id && child.status === 'succeeded')
            .length === 1,
      ),
      'each charge enqueued exactly one send-confirmation, which succeeded',
    ],
    [operator.withoutTokenStatus === 401, 'the admin API refused a request without the admin token (401)'],
    [
      shipments.length === result.placed.length &&
        operator.rerun === shipments.length &&
        shipments.every(
          (task) =>
            task.status === 'succeeded' && (task.lastError ?? '').includes('warehouse booking API offline'),
        ),
      'each book-shipment failed, was rerun through the admin API, and succeeded (its first error kept in lastError)',
    ],
    [
      loyalty.length > 0 && loyalty.every((task) => task.status === 'failed' && task.lastError !== null),
      'the always-failing sync-loyalty-points task failed, with its last error recorded',
    ],
    [
      await leftNothing(result.rolledBack.attempted, manager, database),
      "the rolled-back order's tasks never ran: no row exists",
    ],
    [
      report?.scheduleId === SALES_REPORT &&
        report.scheduledFor !== null &&
        Date.parse(report.scheduledFor) % 10_000 === 0,
      `the ${SALES_REPORT} schedule fired on its own, for its slot (a whole 10 s), and its task succeeded`,
    ],
  ];
  for (const [ok, text] of checks) say(`${ok ? '✓' : '✗'} ${text}`);
  return checks.every(([ok]) => ok);
}
