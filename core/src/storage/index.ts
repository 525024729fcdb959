/**
 * The storage module: the only place SQL for the task table is written. One small function per
 * operation, grouped by file; the engine calls them through a {@link TaskStore} (`sqlStore`).
 * @module
 */
export {
  type Batch,
  type BatchResult,
  type Claimed,
  type ClaimOptions,
  claimTasks,
  confirmClaims,
  inClaimOrder,
  moreMayBeDue,
  type Renewals,
  type StartRecord,
  writeBatch,
} from './claim.js';
export {
  cancelRunning,
  completeTask,
  completeTasks,
  type Ending,
  failTask,
  type LeaseRef,
  leaseKey,
  releaseTask,
  releaseUnstarted,
  type StartedLease,
  type Success,
} from './complete.js';
export {
  type InsertClaim,
  type InsertedTask,
  insertTask,
  insertTaskStatement,
  insertTasks,
  type NewTask,
} from './insert.js';
export { cleanRateSlots, type GroupLimits, limitsFor, rateSlotsOf } from './limits.js';
export {
  type AbnormalRow,
  type AbnormalThresholds,
  cleanSucceededTasks,
  endMaintenanceRound,
  type FailureCursor,
  findAbnormalTasks,
  MAINTENANCE_KEY,
  MAINTENANCE_LEASE_MS,
  type MaintenanceRound,
  rescueExpiredLeases,
  takeMaintenanceRound,
} from './maintenance.js';
export { type MigrateOptions, type MigrateResult, migrate, migrationStatements } from './migrate.js';
export {
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
export { insertedRow, type SelectedRow, slotOf, toTaskRow } from './rows.js';
export {
  fireSchedules,
  listSchedules,
  type ScheduleIdentity,
  type ScheduleOffer,
  type ScheduleOutcome,
  type StoredSchedule,
  setSchedulePaused,
} from './schedules.js';
export type { StorageContext } from './sql.js';
export { sqlStore, type TaskStore } from './store.js';
