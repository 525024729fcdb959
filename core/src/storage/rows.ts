/**
 * The task row as selected by every storage operation, and its mapping to the public `TaskRow`.
 * Ids travel as text and times as epoch milliseconds, so every driver returns the same shapes.
 * @module
 */
import { type SQL, sql } from 'drizzle-orm';
import { isTaskStatus } from '../states.js';
import type { TaskRow } from '../types.js';
import { parseHistory } from './history.js';
import type { NewTask } from './insert.js';

export interface SelectedRow {
  id: string;
  task_key: string;
  status: string;
  arg: string;
  context: string | null;
  attempts: number;
  max_attempts: number;
  timeout_ms: number;
  init_timeout_sensitive: boolean;
  run_at: number;
  lease_expires_at: number | null;
  lease_token: string | null;
  last_error: string | null;
  dedupe_key: string | null;
  /** The dedupe key a later enqueue took from this task (see `dedupeFor`). */
  released_dedupe_key: string | null;
  sequence_key: string | null;
  priority: number;
  parent_id: string | null;
  created_at: number;
  updated_at: number;
  started_at: number | null;
  finished_at: number | null;
  /** Leases of this task that expired before their attempt's start was recorded. */
  unstarted_expiries: number;
  /** Why a cancel was requested while the task ran; it ends `cancelled` once its handler settled. */
  cancel_reason: string | null;
  /** The concurrency group ('' for the task's one group), or null for a task without a limit. */
  concurrency_key: string | null;
  /** The rate-limit group, as `concurrency_key`. */
  rate_key: string | null;
  /** The schedule that fired the task, and the slot it fired for. */
  schedule_id: string | null;
  scheduled_for: number | null;
  /** The attempts that ended, as stored (JSON text; see `storage/history.ts`), or null for none. */
  attempt_history: string | null;
}

/** Columns that travel as text (ids, which may exceed a double; the argument; the lease token). */
const AS_TEXT = new Set<keyof SelectedRow>(['id', 'arg', 'lease_token', 'parent_id', 'attempt_history']);
/** Timestamp columns, which travel as epoch milliseconds. */
const AS_EPOCH_MS = new Set<keyof SelectedRow>([
  'run_at',
  'lease_expires_at',
  'created_at',
  'updated_at',
  'started_at',
  'finished_at',
  'scheduled_for',
]);

/** The select expression of one column of a {@link SelectedRow}; `alias` names the table. */
function selected(alias: string, column: keyof SelectedRow): SQL {
  const ref = sql.raw(`${alias}."${column}"`);
  if (AS_TEXT.has(column)) return sql`${ref}::text as ${sql.identifier(column)}`;
  if (AS_EPOCH_MS.has(column))
    return sql`(extract(epoch from ${ref}) * 1000)::float8 as ${sql.identifier(column)}`;
  return ref;
}

const ROW_COLUMNS: (keyof SelectedRow)[] = [
  'id',
  'task_key',
  'status',
  'arg',
  'context',
  'attempts',
  'max_attempts',
  'timeout_ms',
  'init_timeout_sensitive',
  'run_at',
  'lease_expires_at',
  'lease_token',
  'last_error',
  'dedupe_key',
  'released_dedupe_key',
  'sequence_key',
  'priority',
  'parent_id',
  'created_at',
  'updated_at',
  'started_at',
  'finished_at',
  'unstarted_expiries',
  'cancel_reason',
  'concurrency_key',
  'rate_key',
  'schedule_id',
  'scheduled_for',
  'attempt_history',
];

/** The select list of a task row; `alias` names the table in the statement. */
export function rowColumns(alias: string): SQL {
  return sql.join(
    ROW_COLUMNS.map((column) => selected(alias, column)),
    sql`, `,
  );
}

/**
 * What a claim returns of each row: the columns it did not write itself, and the statement's clock
 * (`now_ms`), from which the columns it did write are known. Returning every column, as JSON, was
 * the claim's largest cost after the row updates themselves: a claim of 300 rows took 12–15 ms
 * that way and 8 ms this way, and its rows are cheaper for the client to read. These are the
 * columns a claim writes; it returns every other one.
 */
const CLAIM_WRITES = [
  'status',
  'lease_expires_at',
  'lease_token',
  'updated_at',
  'started_at',
  'finished_at',
] as const satisfies readonly (keyof SelectedRow)[];

const CLAIM_RETURNS = ROW_COLUMNS.filter(
  (column) => !(CLAIM_WRITES as readonly (keyof SelectedRow)[]).includes(column),
);

export type ClaimedColumns = Omit<SelectedRow, (typeof CLAIM_WRITES)[number]> & { now_ms: number };

/** The time `now` (a clock expression or a column) as epoch milliseconds, named `now_ms`. */
function nowMs(now: SQL): SQL {
  return sql`(extract(epoch from ${now}) * 1000)::float8 as "now_ms"`;
}

/** The select list of {@link ClaimedColumns}; `now` is the clock expression the claim wrote. */
export function claimedColumns(alias: string, now: SQL): SQL[] {
  return [...CLAIM_RETURNS.map((column) => selected(alias, column)), nowMs(now)];
}

/**
 * The whole row of a task a claim moved to `running` with `leaseToken`, its lease `leaseMs` beyond
 * its timeout (or beyond `heartbeatLeaseMs`, when that is shorter): what the claim wrote, taken
 * from its own statement rather than read back.
 */
export function claimedRow(
  row: ClaimedColumns,
  leaseToken: string,
  leaseMs: number,
  heartbeatLeaseMs: number,
): SelectedRow {
  const now = Number(row.now_ms);
  return {
    id: row.id,
    task_key: row.task_key,
    status: 'running',
    arg: row.arg,
    context: row.context,
    attempts: Number(row.attempts),
    max_attempts: Number(row.max_attempts),
    timeout_ms: Number(row.timeout_ms),
    init_timeout_sensitive: row.init_timeout_sensitive,
    run_at: Number(row.run_at),
    lease_expires_at: now + Math.min(Number(row.timeout_ms), heartbeatLeaseMs) + leaseMs,
    lease_token: leaseToken,
    last_error: row.last_error,
    dedupe_key: row.dedupe_key,
    released_dedupe_key: row.released_dedupe_key,
    sequence_key: row.sequence_key,
    priority: Number(row.priority),
    parent_id: row.parent_id,
    created_at: Number(row.created_at),
    updated_at: now,
    started_at: null,
    finished_at: null,
    unstarted_expiries: Number(row.unstarted_expiries),
    cancel_reason: row.cancel_reason,
    concurrency_key: row.concurrency_key,
    rate_key: row.rate_key,
    schedule_id: row.schedule_id,
    scheduled_for: row.scheduled_for === null ? null : Number(row.scheduled_for),
    attempt_history: row.attempt_history,
  };
}

/** What an insert that claims its task returns: its id, the statement's clock, the lease's end. */
export interface InsertClaimedColumns {
  id: string;
  now_ms: number;
  lease_expires_at: number;
}

/** The select list of {@link InsertClaimedColumns}: the insert wrote its clock as `created_at`. */
export function insertClaimedColumns(alias: string): SQL {
  const createdAt = sql.raw(`${alias}."created_at"`);
  return sql`${selected(alias, 'id')}, ${nowMs(createdAt)}, ${selected(alias, 'lease_expires_at')}`;
}

/**
 * The whole row of a task its insert wrote `running` under `leaseToken`: the rest of it is what the
 * insert was given. Returning the whole row instead sent the argument back, however large, and
 * made a one-task insert, which runs inside the caller's transaction, slower: 0.71 against 0.55 ms
 * per statement at the driver, on the 2-vCPU development VM.
 */
export function insertClaimedRow(task: NewTask, row: InsertClaimedColumns, leaseToken: string): SelectedRow {
  return insertedRow(task, row.id, Number(row.now_ms), {
    token: leaseToken,
    expiresAt: Number(row.lease_expires_at),
  });
}

/**
 * The row an insert of `task` writes with id `id` at `now` (epoch ms): claimed by the insert
 * (`running`, attempt 1, under `lease`) or, without a lease, `initialized`.
 */
export function insertedRow(
  task: NewTask,
  id: string,
  now: number,
  lease: { token: string; expiresAt: number } | null,
): SelectedRow {
  return {
    id,
    task_key: task.key,
    status: lease ? 'running' : 'initialized',
    arg: task.arg,
    context: task.context,
    attempts: lease ? 1 : 0,
    max_attempts: task.maxAttempts,
    timeout_ms: task.timeoutMs,
    init_timeout_sensitive: task.initTimeoutSensitive,
    run_at: task.runAt === null ? now + task.delayMs : Date.parse(task.runAt),
    lease_expires_at: lease?.expiresAt ?? null,
    lease_token: lease?.token ?? null,
    last_error: null,
    dedupe_key: task.dedupeKey,
    released_dedupe_key: null,
    sequence_key: task.sequenceKey,
    priority: task.priority,
    parent_id: task.parentId === null ? null : String(task.parentId),
    created_at: now,
    updated_at: now,
    started_at: null,
    finished_at: null,
    unstarted_expiries: 0,
    cancel_reason: null,
    concurrency_key: task.concurrencyKey,
    rate_key: task.rateKey,
    schedule_id: task.scheduleId ?? null,
    scheduled_for: task.scheduledFor ? Date.parse(task.scheduledFor) : null,
    attempt_history: null,
  };
}

/**
 * The time a task of a schedule is for (epoch ms): its slot, or, for a firing an operator asked
 * for (stored without a slot), its creation; null for a task of no schedule.
 */
export function slotOf(
  row: Pick<SelectedRow, 'schedule_id' | 'scheduled_for' | 'created_at'>,
): number | null {
  if (row.schedule_id === null) return null;
  return row.scheduled_for ?? row.created_at;
}

const iso = (ms: number | null): string | null => (ms === null ? null : new Date(Number(ms)).toISOString());

/** Maps a selected row to a `TaskRow` (the argument column is jsonb, so its text always parses). */
export function toTaskRow(row: SelectedRow): TaskRow {
  return {
    id: Number(row.id),
    key: row.task_key,
    status: isTaskStatus(row.status) ? row.status : 'failed',
    arg: JSON.parse(row.arg),
    context: row.context,
    attempts: Number(row.attempts),
    maxAttempts: Number(row.max_attempts),
    timeoutMs: Number(row.timeout_ms),
    runAt: iso(row.run_at)!,
    leaseExpiresAt: iso(row.lease_expires_at),
    leaseToken: row.lease_token,
    lastError: row.last_error,
    dedupeKey: row.dedupe_key,
    releasedDedupeKey: row.released_dedupe_key,
    sequenceKey: row.sequence_key,
    priority: Number(row.priority),
    parentId: row.parent_id === null ? null : Number(row.parent_id),
    initTimeoutSensitive: Boolean(row.init_timeout_sensitive),
    createdAt: iso(row.created_at)!,
    updatedAt: iso(row.updated_at)!,
    startedAt: iso(row.started_at),
    finishedAt: iso(row.finished_at),
    cancelReason: row.cancel_reason,
    concurrencyKey: row.concurrency_key,
    rateKey: row.rate_key,
    scheduleId: row.schedule_id,
    scheduledFor: iso(slotOf(row)),
    history: parseHistory(row.attempt_history),
  };
}
