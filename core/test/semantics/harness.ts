/**
 * What every semantics test needs: a migrated manager on its own table of the shared test
 * database, ways to commit tasks that work on every driver, a controllable clock, gates that hold a
 * handler until the test opens them, and polling.
 */
import {
  createTaskManager,
  silentLogger,
  type TaskDefinition,
  type TaskId,
  type TaskManager,
  type TaskManagerOptions,
  type WaitUntil,
} from '../../src/index.js';
import { type MemoryTaskTable, memoryTaskTable } from '../../src/testing.js';
import type { TestDatabase } from '../support/databases.js';
import type { DriverUnderTest } from './driver.js';

let tableCounter = 0;

export interface Harness {
  database: TestDatabase;
  /** A migrated manager on a fresh table; `table` and `db` may be overridden. */
  manager(
    tasks: TaskDefinition<any, any, any>[],
    options?: Partial<TaskManagerOptions>,
  ): Promise<TaskManager<any>>;
  /** Rows of the manager's table, by id. */
  rows(manager: TaskManager): Promise<Record<string, unknown>[]>;
  /**
   * Commits one task per argument without starting them, for a scanner to find: in a transaction
   * gta did not open, or, on a driver without interactive transactions, in one `db.batch` of
   * `enqueueStatement`s. Returns the ids in argument order.
   */
  enqueueForScanner(
    manager: TaskManager,
    task: TaskDefinition<any, any, any>,
    args: unknown[],
    options?: { sequenceKey?: string; priority?: number },
  ): Promise<TaskId[]>;
  /**
   * Commits one task per argument so that the commit hook starts them: `enqueueMany` inside
   * `manager.transaction`, or, on a driver without interactive transactions, a plain `enqueueMany`
   * (the same hook, after its own one-statement commit). For tests where the transaction is not the
   * subject.
   */
  enqueueWithCommitHook(
    manager: TaskManager,
    task: TaskDefinition<any, any, any>,
    args: unknown[],
    options?: { waitUntil?: WaitUntil },
  ): Promise<TaskId[]>;
}

export function harness(database: TestDatabase, driver: DriverUnderTest): Harness {
  return driver.dryRun ? dryRunHarness(database) : databaseHarness(database, driver);
}

function databaseHarness(database: TestDatabase, driver: DriverUnderTest): Harness {
  const interactive = driver.lacks?.interactiveTransactions === undefined;
  return {
    database,
    async manager(tasks, options = {}) {
      const manager = createTaskManager({
        db: database.db,
        table: `sem_${process.pid}_${tableCounter++}`,
        tasks,
        logger: silentLogger,
        ...options,
      });
      await manager.migrate();
      return manager;
    },
    rows: (manager) =>
      database.query(`select * from "${manager.options.table}" where task_key not like 'gta:%' order by id`),
    async enqueueForScanner(manager, task, args, options = {}) {
      const { db } = database;
      if (interactive)
        return db.transaction((tx: any) => manager.enqueueMany(task, args, { ...options, tx }));
      const statements = await Promise.all(args.map((arg) => manager.enqueueStatement(task, arg, options)));
      // db.execute(...) is a lazy thenable: built here, it runs only inside the batch.
      const results: { rows: { id: string }[] }[] = await db.batch(
        statements.map((statement) => db.execute(statement)),
      );
      return results.map((result) => Number(result.rows[0]!.id));
    },
    enqueueWithCommitHook(manager, task, args, options = {}) {
      if (!interactive) return manager.enqueueMany(task, args, options);
      return manager.transaction((tx) => manager.enqueueMany(task, args, { tx }), options);
    },
  };
}

/**
 * The harness of a dry run: managers on memory tables, one per table name, so that managers given
 * the same `table` share it as instances share a database table. A scanner's tasks are committed
 * by a producer that is stopped, so that its commit hook starts nothing.
 */
function dryRunHarness(database: TestDatabase): Harness {
  const tables = new Map<string, MemoryTaskTable>();
  const tableNamed = (name: string) => {
    const table = tables.get(name) ?? memoryTaskTable();
    tables.set(name, table);
    return table;
  };
  const tableOf = (manager: TaskManager) => tableNamed(manager.options.table);
  return {
    database,
    async manager(tasks, options = {}) {
      const table = options.table ?? `sem_${process.pid}_${tableCounter++}`;
      return createTaskManager({ logger: silentLogger, ...options, tasks, table, dryRun: tableNamed(table) });
    },
    rows: async (manager) =>
      [...tableOf(manager).rows.values()]
        .sort((a, b) => Number(a.id) - Number(b.id))
        .map((row) => ({ ...row, arg: JSON.parse(row.arg) as unknown })),
    async enqueueForScanner(manager, task, args, options = {}) {
      const producer = createTaskManager({
        dryRun: tableOf(manager),
        tasks: [task],
        logger: silentLogger,
        ...(manager.options.clock ? { clock: manager.options.clock } : {}),
      });
      await producer.stop();
      return producer.enqueueMany(task, args, options);
    },
    enqueueWithCommitHook(manager, task, args, options = {}) {
      return manager.transaction((tx) => manager.enqueueMany(task, args, { tx }), options);
    },
  };
}

/** A stand-in for the database of a dry run: there is none, so any SQL a test sends fails loudly. */
export function noDatabase(): TestDatabase {
  const refuse = async (): Promise<never> => {
    throw new Error('a dry run has no database: this test needs the capability "sql"');
  };
  return { name: 'memory', db: undefined, exec: refuse, query: refuse, close: async () => {} };
}

/** A clock the test moves by hand; pass `clock.now` as the manager's `clock` option. */
export function manualClock(start = Date.now()) {
  let current = start;
  return {
    now: () => new Date(current),
    advance(ms: number) {
      current += ms;
    },
    get ms() {
      return current;
    },
  };
}

/** A promise the test resolves when it wants a handler to go on. */
export function gate() {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { open, opened };
}

/** Collects what `waitUntil` is handed, so a test can await it later. */
export function waitUntilCollector() {
  const handed: Promise<unknown>[] = [];
  return {
    waitUntil: (promise: Promise<unknown>) => {
      handed.push(promise);
    },
    handed,
    settle: () => Promise.all(handed),
  };
}

/** Polls `check` until it returns a value other than undefined, or fails after `timeoutMs`. */
export async function eventually<T>(check: () => Promise<T | undefined>, timeoutMs = 5000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** Whether ISO time `time` is null or not before ISO time `than`. */
export function sameOrLater(time: string | null, than: string): boolean {
  return time === null || Date.parse(time) >= Date.parse(than);
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
