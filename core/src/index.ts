/**
 * gta: reliable async tasks and transactional messages on Postgres, for serverless and edge
 * runtimes. Enqueue in your own transaction; the task exists if and only if it commits, starts
 * right after the commit, and a cron `tick()` runs whatever the commit hook missed.
 * @module
 */
export { AttemptAborted } from './attempt.js';
export type { MemoryTaskTable } from './dry-run.js';
export {
  describeThrown,
  ERROR_CODES,
  errorCauses,
  GtaError,
  type GtaErrorCode,
  isGtaError,
} from './errors.js';
export type { AttemptEndEvent, AttemptEvent, AttemptFailureEvent, TaskHooks } from './hooks.js';
export { consoleLogger, type LogFields, type Logger, type LogLevel, silentLogger } from './logger.js';
export {
  type AnyTaskDefinition,
  type ArgOf,
  createTaskManager,
  type TaskKeyOf,
  TaskManager,
  type TaskRefOf,
  type TransactionOf,
} from './manager.js';
export {
  type CheckCallback,
  DEFAULT_CONCURRENCY,
  DEFAULT_HEARTBEAT_INTERVAL,
  DEFAULT_INITIALIZED_TIMEOUT,
  DEFAULT_INSTANT_SCAN_INTERVAL,
  DEFAULT_LEASE_MARGIN,
  DEFAULT_MAINTENANCE_INTERVAL,
  DEFAULT_MAX_ARGUMENT_BYTES,
  DEFAULT_RUNNING_TIMEOUT,
  DEFAULT_SCAN_INTERVAL,
  DEFAULT_STORAGE_TIMEOUT,
  DEFAULT_TABLE,
  DEFAULT_TASK_TIMEOUT,
  DEFAULT_TICK_BUDGET,
  logAbnormalTasks,
  type TaskManagerOptions,
} from './options.js';
export {
  type CatchUp,
  DEFAULT_MAX_CATCH_UP,
  DEFAULT_MISSED_AFTER_MS,
  type ScheduleDefinition,
  type ScheduleInfo,
} from './schedules.js';
export { gtaRateSlotsTable, gtaSchedulesTable, gtaTasksTable } from './schema.js';
export type { JsonArgument } from './serialize.js';
export { isTaskStatus, TASK_STATES, type TaskStatus, TRANSITIONS } from './states.js';
export {
  MAINTENANCE_KEY,
  type MigrateOptions,
  type MigrateResult,
  migrate,
  migrationStatements,
} from './storage/index.js';
export {
  CancelTask,
  type ChildEnqueueOptions,
  type CtxMarshaler,
  defineTask,
  FailTask,
  MAX_TASK_KEY_LENGTH,
  RetryAfter,
  type TaskContext,
  type TaskDefinition,
  type TaskDefinitionInput,
  type TaskHandler,
} from './task.js';
export { type TickWindow, type TickWindowInput, tickWindow } from './tick-window.js';
export type {
  AbnormalReason,
  AbnormalTask,
  AttemptOutcome,
  AttemptRecord,
  EnqueueOptions,
  ListTasksFilter,
  SqlExecutor,
  TaskId,
  TaskRow,
  TaskStats,
  ThroughputPoint,
  TickOptions,
  TickReport,
  TransactionalDatabase,
  WaitUntil,
} from './types.js';
