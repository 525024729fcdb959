/**
 * The task table as the engine sees it: every operation the manager, the executor, the tick and
 * the maintenance round perform on stored tasks, one method each. `sqlStore` runs them as the SQL
 * of this folder on a drizzle database; the dry run keeps the same operations in memory
 * (`dry-run.ts`), so that the one engine runs on either and a dry run behaves as the real thing.
 * @module
 */
import type { SQL } from 'drizzle-orm';
import type { TaskStatus } from '../states.js';
import type { SqlExecutor, TaskId } from '../types.js';
import {
  type Batch,
  type BatchResult,
  type Claimed,
  type ClaimOptions,
  claimTasks,
  confirmClaims,
  writeBatch,
} from './claim.js';
import {
  cancelRunning,
  completeTask,
  type Ending,
  failTask,
  type LeaseRef,
  releaseTask,
  releaseUnstarted,
  type StartedLease,
} from './complete.js';
import {
  type InsertClaim,
  type InsertedTask,
  insertTask,
  insertTaskStatement,
  insertTasks,
  type NewTask,
} from './insert.js';
import { cleanRateSlots } from './limits.js';
import {
  type AbnormalRow,
  type AbnormalThresholds,
  cleanSucceededTasks,
  endMaintenanceRound,
  findAbnormalTasks,
  type MaintenanceRound,
  rescueExpiredLeases,
  takeMaintenanceRound,
} from './maintenance.js';
import { type MigrateResult, migrate } from './migrate.js';
import {
  cancelTask,
  forceRerunTasks,
  getTask,
  type ListQuery,
  listTasks,
  queryUnsuccessfulTasks,
  type StatsRows,
  type ThroughputRow,
  taskStats,
  taskThroughput,
} from './queries.js';
import type { SelectedRow } from './rows.js';
import {
  fireSchedules,
  listSchedules,
  type ScheduleIdentity,
  type ScheduleOffer,
  type ScheduleOutcome,
  type StoredSchedule,
  setSchedulePaused,
} from './schedules.js';
import type { StorageContext } from './sql.js';

export interface TaskStore {
  /**
   * Whether the store's writes go through the caller's database transactions. A store that does
   * not (the dry run's memory) takes inserts made in a transaction of `manager.transaction` as
   * pending until it is told the outcome ({@link TaskStore.settleTransaction}), and cannot take
   * inserts in any other transaction.
   */
  readonly sharesTransactions: boolean;
  migrate(): Promise<MigrateResult>;
  /**
   * Inserts through `tx` (the caller's transaction) when given; `transaction` identifies the
   * `manager.transaction` it belongs to, for a store that keeps pending rows itself.
   */
  insertTask(
    task: NewTask,
    claim: InsertClaim | null,
    tx: SqlExecutor | undefined,
    transaction: object | undefined,
  ): Promise<InsertedTask & { inserted: boolean }>;
  insertTasks(
    tasks: NewTask[],
    claim: (InsertClaim & { first: number }) | null,
    tx: SqlExecutor | undefined,
    transaction: object | undefined,
  ): Promise<InsertedTask[]>;
  insertTaskStatement(task: NewTask): SQL;
  /** The tasks of a transaction of `manager.transaction` committed, or were dropped with it. */
  settleTransaction(committed: TaskId[], dropped: TaskId[]): void;
  claimTasks(options: ClaimOptions): Promise<Claimed>;
  writeBatch(batch: Batch): Promise<BatchResult>;
  confirmClaims(leases: LeaseRef[]): Promise<Set<string>>;
  completeTask(
    lease: StartedLease,
    options: { deleteRow: boolean; children: NewTask[] },
  ): Promise<{ ending: Ending; childIds: TaskId[] } | null>;
  failTask(
    lease: StartedLease,
    options: { error: string; retryDelayMs: number | null },
  ): Promise<'failed' | 'initialized' | 'cancelled' | null>;
  releaseTask(lease: StartedLease, reason: string): Promise<'initialized' | 'cancelled' | null>;
  cancelRunning(lease: StartedLease, reason: string): Promise<boolean>;
  releaseUnstarted(leases: LeaseRef[]): Promise<number>;
  rescueExpiredLeases(limit: number): Promise<{ retried: number; failed: number; cancelled: number }>;
  takeMaintenanceRound(intervalMs: number): Promise<MaintenanceRound | null>;
  endMaintenanceRound(round: MaintenanceRound, completed: boolean): Promise<void>;
  findAbnormalTasks(thresholds: AbnormalThresholds): Promise<AbnormalRow[]>;
  cleanSucceededTasks(options: { storageTimeout: number; limit: number }): Promise<number>;
  /** Deletes up to `limit` rate-limit slots long free; returns how many. */
  cleanRateSlots(limit: number): Promise<number>;
  /** Fires the due slots of `offers` (one schedule round); see `storage/schedules.ts`. */
  fireSchedules(offers: ScheduleOffer[]): Promise<ScheduleOutcome[]>;
  listSchedules(): Promise<StoredSchedule[]>;
  setSchedulePaused(schedule: ScheduleIdentity, paused: boolean): Promise<void>;
  getTask(id: TaskId): Promise<SelectedRow | null>;
  listTasks(query: ListQuery): Promise<SelectedRow[]>;
  queryUnsuccessfulTasks(page: { limit: number; offset: number }): Promise<SelectedRow[]>;
  taskStats(): Promise<StatsRows>;
  forceRerunTasks(ids: TaskId[], status: TaskStatus): Promise<number>;
  cancelTask(id: TaskId, reason: string): Promise<'cancelled' | 'requested' | null>;
  taskThroughput(minutes: number): Promise<ThroughputRow[]>;
}

/** The task table `context.table` on the drizzle database `context.db`. */
export function sqlStore(context: StorageContext): TaskStore {
  const on = (tx: SqlExecutor | undefined): StorageContext => (tx ? { ...context, db: tx } : context);
  return {
    sharesTransactions: true,
    migrate: () => migrate(context.db, { table: context.table }),
    insertTask: (task, claim, tx) => insertTask(on(tx), task, claim),
    insertTasks: (tasks, claim, tx) => insertTasks(on(tx), tasks, claim),
    insertTaskStatement: (task) => insertTaskStatement(context, task),
    // The database commits or drops them with the caller's transaction.
    settleTransaction: () => {},
    claimTasks: (options) => claimTasks(context, options),
    writeBatch: (batch) => writeBatch(context, batch),
    confirmClaims: (leases) => confirmClaims(context, leases),
    completeTask: (lease, options) => completeTask(context, lease, options),
    failTask: (lease, options) => failTask(context, lease, options),
    releaseTask: (lease, reason) => releaseTask(context, lease, reason),
    cancelRunning: (lease, reason) => cancelRunning(context, lease, reason),
    releaseUnstarted: (leases) => releaseUnstarted(context, leases),
    rescueExpiredLeases: (limit) => rescueExpiredLeases(context, limit),
    takeMaintenanceRound: (intervalMs) => takeMaintenanceRound(context, intervalMs),
    endMaintenanceRound: (round, completed) => endMaintenanceRound(context, round, completed),
    findAbnormalTasks: (thresholds) => findAbnormalTasks(context, thresholds),
    cleanSucceededTasks: (options) => cleanSucceededTasks(context, options),
    cleanRateSlots: (limit) => cleanRateSlots(context, limit),
    fireSchedules: (offers) => fireSchedules(context, offers),
    listSchedules: () => listSchedules(context),
    setSchedulePaused: (schedule, paused) => setSchedulePaused(context, schedule, paused),
    getTask: (id) => getTask(context, id),
    listTasks: (query) => listTasks(context, query),
    queryUnsuccessfulTasks: (page) => queryUnsuccessfulTasks(context, page),
    taskStats: () => taskStats(context),
    forceRerunTasks: (ids, status) => forceRerunTasks(context, ids, status),
    cancelTask: (id, reason) => cancelTask(context, id, reason),
    taskThroughput: (minutes) => taskThroughput(context, minutes),
  };
}
