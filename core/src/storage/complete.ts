/**
 * Finishing a claimed task. Every statement here is guarded by `status = 'running'` and the
 * claim's lease token, so an executor whose lease expired (and whose task was rescued and claimed
 * again) can never overwrite the newer attempt's result: its statement matches no row.
 * @module
 */
import { type SQL, sql } from 'drizzle-orm';
import type { TaskId } from '../types.js';
import { insertChildren, type NewTask } from './insert.js';
import { arrayParam, jsonParam, millis, nowOf, queryRows, type StorageContext, tableOf } from './sql.js';

export interface LeaseRef {
  id: TaskId;
  leaseToken: string;
}

/** A lease whose handler started `startedAgoMs` before the statement that writes its outcome. */
export interface StartedLease extends LeaseRef {
  startedAgoMs: number;
}

/**
 * The start of an attempt whose start record had not been written yet, written with its outcome
 * (a quick handler finishes before its start record is sent): `startedAgoMs` before the statement.
 */
function recordStart(context: StorageContext, startedAgoMs: number | SQL): SQL {
  return sql`started_at = coalesce(started_at, ${startTime(context, startedAgoMs)})`;
}

/**
 * The time an attempt started, `agoMs` before the statement. An injected clock is the test's own
 * time, which does not pass while a handler runs: under one, the start reads as its current time.
 */
export function startTime(context: StorageContext, agoMs: number | SQL): SQL {
  const now = nowOf(context);
  return context.clock ? now : sql`${now} - (${agoMs}::float8 * interval '1 millisecond')`;
}

function held(lease: LeaseRef) {
  return sql`id = ${lease.id}::bigint and lease_token = ${lease.leaseToken}::uuid and status = 'running'`;
}

/**
 * Transition "complete": `running` → `succeeded` (or the row deleted with `cleanSucceeded`), with
 * the nested tasks inserted in the same statement, so they exist exactly when the parent succeeded.
 * Returns null when the lease was lost, else the children's ids in submission order.
 */
export async function completeTask(
  context: StorageContext,
  lease: StartedLease,
  options: { deleteRow: boolean; children: NewTask[] },
): Promise<TaskId[] | null> {
  const table = tableOf(context);
  const now = nowOf(context);
  const finish = options.deleteRow
    ? sql`delete from ${table} where ${held(lease)} returning id`
    : sql`update ${table} set status = 'succeeded', lease_token = null, lease_expires_at = null,
          ${recordStart(context, lease.startedAgoMs)}, finished_at = ${now}, updated_at = ${now}
        where ${held(lease)} returning id`;
  const children =
    options.children.length > 0
      ? sql`, children as (${insertChildren(context, options.children)})
           select (select count(*) from done)::int as done,
                  (select coalesce(json_agg(id::text order by id), '[]') from children)::text as children`
      : sql` select (select count(*) from done)::int as done, '[]' as children`;
  const [row] = await queryRows<{ done: number; children: string }>(
    context.db,
    'complete',
    sql`with done as (${finish})${children}`,
  );
  if (!row || Number(row.done) === 0) return null;
  return (JSON.parse(row.children) as string[]).map(Number);
}

/** Identifies one claim: the same task id claimed again carries a new token. */
export function leaseKey(lease: LeaseRef): string {
  return `${lease.id}:${lease.leaseToken}`;
}

/** A success to write in a batch: the task's lease, and whether its row goes (`cleanSucceeded`). */
export interface Success extends StartedLease {
  deleteRow: boolean;
}

/**
 * Transition "complete" for many tasks in one statement, each row guarded by its own lease exactly
 * as in {@link completeTask}, for tasks without children. Returns the {@link leaseKey}s that were
 * still held; the others were lost and wrote nothing.
 */
export async function completeTasks(context: StorageContext, successes: Success[]): Promise<Set<string>> {
  if (successes.length === 0) return new Set();
  const rows = await queryRows<{ id: string; lease_token: string }>(
    context.db,
    'complete',
    sql`with ${completionCtes(context, successes)} select id, lease_token from done`,
  );
  return new Set(rows.map((row) => leaseKey({ id: Number(row.id), leaseToken: row.lease_token })));
}

/**
 * The common table expressions of {@link completeTasks}, ending in `done`: the id and lease token
 * of each row written, kept as `succeeded` or deleted.
 */
export function completionCtes(context: StorageContext, successes: Success[]): SQL {
  const kept = successes.filter((success) => !success.deleteRow);
  const removed = successes.filter((success) => success.deleteRow);
  if (removed.length === 0) return sql`done as (${keepSucceeded(context, kept)})`;
  if (kept.length === 0) return sql`done as (${deleteSucceeded(context, removed)})`;
  return sql`kept as (${keepSucceeded(context, kept)}), removed as (${deleteSucceeded(context, removed)}),
    done as (select id, lease_token from kept union all select id, lease_token from removed)`;
}

/**
 * The lease column list of a batch (in id order, so that a plan driven by the list locks rows in
 * the same order in every batch).
 */
function leaseList(leases: StartedLease[]): SQL {
  const input = leases
    .map(({ id, leaseToken, startedAgoMs }) => ({ id, leaseToken, startedAgoMs }))
    .sort((a, b) => a.id - b.id);
  return sql`jsonb_to_recordset(${jsonParam(input)}) as lease(id bigint, "leaseToken" uuid, "startedAgoMs" float8)`;
}

/** Rows held under a lease of `leases`, joined with the list as `lease`; the id array keeps the plan on the primary key. */
function heldByLease(leases: LeaseRef[]): SQL {
  return sql`task.id = any(${arrayParam(
    leases.map((lease) => lease.id),
    'bigint',
  )}) and task.id = lease.id and task.lease_token = lease."leaseToken" and task.status = 'running'`;
}
const WRITTEN = sql`task.id::text as id, lease."leaseToken"::text as lease_token`;

function keepSucceeded(context: StorageContext, leases: StartedLease[]): SQL {
  const now = nowOf(context);
  return sql`update ${tableOf(context)} as task set status = 'succeeded', lease_token = null,
        lease_expires_at = null, ${recordStart(context, sql`lease."startedAgoMs"`)},
        finished_at = ${now}, updated_at = ${now}
      from ${leaseList(leases)}
      where ${heldByLease(leases)}
      returning ${WRITTEN}`;
}

function deleteSucceeded(context: StorageContext, leases: StartedLease[]): SQL {
  return sql`delete from ${tableOf(context)} as task using ${leaseList(leases)}
      where ${heldByLease(leases)}
      returning ${WRITTEN}`;
}

/**
 * The id of the statement's transaction, kept with a failed task (`failure_xid`) so that each
 * maintenance round reports exactly the failures committed since the previous round's snapshot.
 */
export const CURRENT_XID = sql`pg_current_xact_id()::text::bigint`;

/**
 * Transition "retry" (`running` → `initialized`, due after `retryDelayMs`) when `retryDelayMs` is
 * a number, else transition "fail" (`running` → `failed`). Returns false when the lease was lost.
 */
export async function failTask(
  context: StorageContext,
  lease: StartedLease,
  options: { error: string; retryDelayMs: number | null },
): Promise<boolean> {
  const table = tableOf(context);
  const now = nowOf(context);
  const next =
    options.retryDelayMs === null
      ? sql`status = 'failed', finished_at = ${now}, failure_xid = ${CURRENT_XID}`
      : sql`status = 'initialized', run_at = ${now} + ${millis(options.retryDelayMs)}`;
  const rows = await queryRows(
    context.db,
    'fail',
    sql`update ${table} set ${next}, last_error = ${options.error}, lease_token = null,
          lease_expires_at = null, ${recordStart(context, lease.startedAgoMs)}, updated_at = ${now}
        where ${held(lease)} returning id`,
  );
  return rows.length > 0;
}

/**
 * Transition "release": `running` → `initialized`, due now, the attempt not counted, with `reason`
 * as its last error. For an attempt the manager's stop or the invocation's deadline cut short.
 */
export async function releaseTask(
  context: StorageContext,
  lease: StartedLease,
  reason: string,
): Promise<boolean> {
  const now = nowOf(context);
  const rows = await queryRows(
    context.db,
    'release',
    sql`update ${tableOf(context)} set status = 'initialized', attempts = greatest(attempts - 1, 0),
          run_at = ${now}, lease_token = null, lease_expires_at = null,
          ${recordStart(context, lease.startedAgoMs)}, last_error = ${reason}, updated_at = ${now}
        where ${held(lease)} returning id`,
  );
  return rows.length > 0;
}

/**
 * Transition "release" for tasks a tick claimed ahead but never started (its budget ran out, its
 * signal aborted, or they waited too long for a slot): back to `initialized` with their run time,
 * last error and attempt count as before the claim. Returns how many were still held.
 */
export async function releaseUnstarted(context: StorageContext, leases: LeaseRef[]): Promise<number> {
  if (leases.length === 0) return 0;
  const table = tableOf(context);
  const rows = await queryRows(
    context.db,
    'release unstarted',
    sql`update ${table} as task set status = 'initialized', attempts = greatest(task.attempts - 1, 0),
          lease_token = null, lease_expires_at = null, started_at = null, updated_at = ${nowOf(context)}
        from jsonb_to_recordset(${jsonParam(leases)}) as lease(id bigint, "leaseToken" uuid)
        where ${heldByLease(leases)}
        returning task.id`,
  );
  return rows.length;
}
