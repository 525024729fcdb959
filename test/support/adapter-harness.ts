/**
 * What the Vercel and Lambda adapters' handler tests share: managers on fresh tables, a logger that
 * records, gates, polling.
 */
import {
  createTaskManager,
  type LogFields,
  type Logger,
  type TaskDefinition,
  type TaskManager,
  type TaskManagerOptions,
} from '@gta/core';
import type { TestDatabase } from '../../core/test/support/databases.js';

export interface LogEntry {
  level: 'debug' | 'info' | 'warn' | 'error';
  fields: LogFields;
  message: string | undefined;
}

export function recordingLogger(): { logger: Logger; entries: LogEntry[] } {
  const entries: LogEntry[] = [];
  const record = (level: LogEntry['level']) => (fields: LogFields, message?: string) =>
    void entries.push({ level, fields, message });
  return {
    logger: { debug: record('debug'), info: record('info'), warn: record('warn'), error: record('error') },
    entries,
  };
}

let tables = 0;

/** A migrated manager on a table of its own. */
export async function migratedManager(
  database: TestDatabase,
  tasks: TaskDefinition<any, any, any>[],
  options: Partial<TaskManagerOptions> = {},
): Promise<TaskManager<any>> {
  const manager = createTaskManager({
    db: database.db,
    table: `adapter_${process.pid}_${tables++}`,
    tasks,
    ...options,
  });
  await manager.migrate();
  return manager;
}

/** Statuses of the manager's tasks (built-ins left out), by id. */
export async function statuses(database: TestDatabase, manager: TaskManager<any>): Promise<string[]> {
  const rows = await database.query<{ status: string }>(
    `select status from "${manager.options.table}" where task_key not like 'gta:%' order by id`,
  );
  return rows.map((row) => row.status);
}

/** A promise the test resolves when it wants a handler to go on. */
export function gate(): { open: () => void; opened: Promise<void> } {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { open, opened };
}

/** Polls `check` until it returns something other than undefined; fails after `timeoutMs`. */
export async function eventually<T>(check: () => Promise<T | undefined>, timeoutMs = 5000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
