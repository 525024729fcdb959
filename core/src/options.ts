/**
 * Manager options (GTA's options, mapped), their defaults and GTA's rules between them.
 * @module
 */
import type { MemoryTaskTable } from './dry-run.js';
import { ERROR_CODES, GtaError } from './errors.js';
import { invalidHooks, type TaskHooks } from './hooks.js';
import { consoleLogger, type Logger } from './logger.js';
import type { ScheduleDefinition } from './schedules.js';
import { type CtxMarshaler, MAX_INT32, type TaskDefinition } from './task.js';
import type { AbnormalTask, SqlExecutor, TransactionalDatabase, WaitUntil } from './types.js';

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const DAY = 24 * 60 * MINUTE;

export const DEFAULT_TABLE = 'gta_tasks';
export const DEFAULT_STORAGE_TIMEOUT = 7 * DAY;
export const DEFAULT_INITIALIZED_TIMEOUT = 5 * MINUTE;
export const DEFAULT_RUNNING_TIMEOUT = 30 * MINUTE;
export const DEFAULT_SCAN_INTERVAL = 5 * SECOND;
export const DEFAULT_INSTANT_SCAN_INTERVAL = 100;
export const DEFAULT_CONCURRENCY = 10;
export const DEFAULT_TASK_TIMEOUT = MINUTE;
export const DEFAULT_LEASE_MARGIN = 10 * SECOND;
export const DEFAULT_HEARTBEAT_INTERVAL = 5 * SECOND;
export const DEFAULT_MAINTENANCE_INTERVAL = MINUTE;
export const DEFAULT_MAX_ARGUMENT_BYTES = 512 * 1024;
export const DEFAULT_TICK_BUDGET = 10 * SECOND;

export type CheckCallback = (logger: Logger, abnormalTasks: AbnormalTask[]) => void | Promise<void>;

export interface TaskManagerOptions {
  /** A drizzle Postgres database (any driver). Optional only with `dryRun`. */
  db?: TransactionalDatabase | SqlExecutor;
  /** @defaultValue "gta_tasks" */
  table?: string;
  tasks?: readonly TaskDefinition<any, any, any>[];
  /** Recurring tasks, fired by every `tick()` and the runner (see `ScheduleDefinition`). */
  schedules?: ScheduleDefinition[];
  /** pino-compatible. @defaultValue a console logger at level info */
  logger?: Logger;
  /** Succeeded tasks older than this (ms) are deleted by maintenance. @defaultValue 7 days */
  storageTimeout?: number;
  /** A task due for longer than this (ms) without starting is abnormal. @defaultValue 5 minutes */
  initializedTimeout?: number;
  /** A task running for longer than this (ms) is abnormal. @defaultValue 30 minutes */
  runningTimeout?: number;
  /** How long `stop({ wait: true })` waits for running tasks (ms). @defaultValue unlimited */
  waitTimeout?: number;
  /** Idle scan period of the runner (ms). @defaultValue 5 s */
  scanInterval?: number;
  /** Scan period of the runner while due tasks remain (ms). @defaultValue 100 ms */
  instantScanInterval?: number;
  ctxMarshaler?: CtxMarshaler<any>;
  /** Called by the abnormal-task check. @defaultValue logs each abnormal task as a warning */
  checkCallback?: CheckCallback;
  /**
   * No task table in the database: the task table is kept in memory, and the engine runs on it as
   * it would on Postgres (the commit hook, `tick`, the runner, retries, dedupe and sequence keys,
   * the cap), for tests. Pass a `memoryTaskTable()` (from `@gta/core/testing`) to share one table
   * between managers, as instances share a database table. @defaultValue false
   */
  dryRun?: boolean | MemoryTaskTable;
  /** The manager's root signal: once aborted, nothing more is claimed or started. */
  signal?: AbortSignal;
  /** Most tasks this process or invocation runs at once; beyond it tasks wait for a scanner. @defaultValue 10 */
  concurrency?: number;
  /** Per-attempt deadline (ms) for tasks that set no `timeoutMs`. @defaultValue 60 s */
  taskTimeout?: number;
  /**
   * Extra time (ms) a lease lasts beyond the part of the task's timeout it covers before a scanner
   * may rescue it. Longer is safer against slow completions; shorter rescues crashed invocations
   * sooner. @defaultValue 10 s
   */
  leaseMargin?: number;
  /**
   * How often (ms) an invocation renews the leases of its running attempts, in one statement, and
   * learns of the cancels asked for them. A lease covers at most three heartbeats of a task's
   * timeout (plus `leaseMargin`), so a dead invocation's tasks are rescued within that, however
   * long their timeout. @defaultValue 5 s
   */
  heartbeatInterval?: number;
  /** Maintenance (abnormal check, cleanup) runs at most once per this period (ms) across all instances. @defaultValue 1 minute */
  maintenanceInterval?: number;
  /** Largest serialized argument accepted (bytes). @defaultValue 512 KiB */
  maxArgumentBytes?: number;
  /** Where plain `enqueue` and `transaction` hand post-commit work when the call gives no `waitUntil`. */
  waitUntil?: WaitUntil;
  /** Replaces the database clock, for tests; every time written to the table comes from it. */
  clock?: () => Date;
  /** Called as attempts start and end (see `TaskHooks`); a hook that throws is logged. */
  hooks?: TaskHooks;
}

export interface ResolvedOptions {
  table: string;
  logger: Logger;
  storageTimeout: number;
  initializedTimeout: number;
  runningTimeout: number;
  waitTimeout: number;
  scanInterval: number;
  instantScanInterval: number;
  ctxMarshaler: CtxMarshaler<any> | undefined;
  checkCallback: CheckCallback;
  dryRun: boolean;
  signal: AbortSignal | undefined;
  concurrency: number;
  taskTimeout: number;
  leaseMargin: number;
  heartbeatInterval: number;
  maintenanceInterval: number;
  maxArgumentBytes: number;
  waitUntil: WaitUntil | undefined;
  clock: (() => Date) | undefined;
  hooks: TaskHooks | undefined;
}

const TABLE_NAME = /^[a-z_][a-z0-9_]{0,40}$/;

/** Applies defaults and GTA's rules; throws `GTA_INVALID_OPTION` naming the rule broken. */
export function resolveOptions(options: TaskManagerOptions): ResolvedOptions {
  const logger = options.logger ?? consoleLogger();
  const resolved: ResolvedOptions = {
    table: options.table ?? DEFAULT_TABLE,
    logger,
    storageTimeout: options.storageTimeout ?? DEFAULT_STORAGE_TIMEOUT,
    initializedTimeout: options.initializedTimeout ?? DEFAULT_INITIALIZED_TIMEOUT,
    runningTimeout: options.runningTimeout ?? DEFAULT_RUNNING_TIMEOUT,
    waitTimeout: options.waitTimeout ?? Number.POSITIVE_INFINITY,
    scanInterval: options.scanInterval ?? DEFAULT_SCAN_INTERVAL,
    instantScanInterval: options.instantScanInterval ?? DEFAULT_INSTANT_SCAN_INTERVAL,
    ctxMarshaler: options.ctxMarshaler,
    checkCallback: options.checkCallback ?? logAbnormalTasks,
    dryRun: options.dryRun !== undefined && options.dryRun !== false,
    signal: options.signal,
    concurrency: options.concurrency ?? DEFAULT_CONCURRENCY,
    taskTimeout: options.taskTimeout ?? DEFAULT_TASK_TIMEOUT,
    leaseMargin: options.leaseMargin ?? DEFAULT_LEASE_MARGIN,
    heartbeatInterval: options.heartbeatInterval ?? DEFAULT_HEARTBEAT_INTERVAL,
    maintenanceInterval: options.maintenanceInterval ?? DEFAULT_MAINTENANCE_INTERVAL,
    maxArgumentBytes: options.maxArgumentBytes ?? DEFAULT_MAX_ARGUMENT_BYTES,
    waitUntil: options.waitUntil,
    clock: options.clock,
    hooks: options.hooks,
  };
  const hooksProblem = invalidHooks(options.hooks);
  if (hooksProblem) throw invalidOption(hooksProblem);
  if (!TABLE_NAME.test(resolved.table)) {
    throw invalidOption(
      `table must match ${TABLE_NAME} (lower case, at most 41 characters), got ${resolved.table}`,
    );
  }
  for (const name of [
    'storageTimeout',
    'initializedTimeout',
    'runningTimeout',
    'waitTimeout',
    'scanInterval',
    'instantScanInterval',
    'taskTimeout',
    'leaseMargin',
    'heartbeatInterval',
    'maintenanceInterval',
    'maxArgumentBytes',
  ] as const) {
    const value = resolved[name];
    if (typeof value !== 'number' || Number.isNaN(value) || value <= 0) {
      throw invalidOption(`${name} must be a number > 0, got ${String(value)}`);
    }
  }
  for (const name of ['taskTimeout', 'leaseMargin', 'heartbeatInterval'] as const) {
    if (resolved[name] > MAX_INT32)
      throw invalidOption(`${name} must be at most ${MAX_INT32} ms, got ${resolved[name]}`);
  }
  if (!Number.isInteger(resolved.concurrency) || resolved.concurrency < 1) {
    throw invalidOption(`concurrency must be a whole number ≥ 1, got ${String(resolved.concurrency)}`);
  }
  requireAtMost(resolved, 'runningTimeout', 'storageTimeout');
  requireAtMost(resolved, 'initializedTimeout', 'storageTimeout');
  requireAtMost(resolved, 'scanInterval', 'storageTimeout');
  requireAtMost(resolved, 'instantScanInterval', 'scanInterval');
  requireAtMost(resolved, 'taskTimeout', 'runningTimeout');
  if (!resolved.dryRun && options.db === undefined)
    throw invalidOption('db is required unless dryRun is set');
  return resolved;
}

function requireAtMost(
  options: ResolvedOptions,
  smaller: keyof ResolvedOptions,
  larger: keyof ResolvedOptions,
) {
  if ((options[smaller] as number) > (options[larger] as number)) {
    throw invalidOption(
      `${smaller} (${String(options[smaller])} ms) must not exceed ${larger} (${String(options[larger])} ms)`,
    );
  }
}

function invalidOption(message: string): GtaError {
  return new GtaError(ERROR_CODES.invalidOption, message);
}

/** The default `checkCallback`: one warning per abnormal task. */
export function logAbnormalTasks(logger: Logger, abnormalTasks: AbnormalTask[]): void {
  for (const { reason, task } of abnormalTasks) {
    logger.warn(
      { taskId: task.id, taskKey: task.key, status: task.status, reason, lastError: task.lastError },
      `abnormal task: ${reason}`,
    );
  }
}

/** The manager's time in epoch ms: its injected clock's, else the local time. */
export function clockNow(options: Pick<ResolvedOptions, 'clock'>): number {
  return options.clock ? options.clock().getTime() : Date.now();
}
