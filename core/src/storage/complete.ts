/**
 * Finishing a claimed task. Every statement here is guarded by `status = 'running'` and the
 * claim's lease token, so an executor whose lease expired (and whose task was rescued and claimed
 * again) can never overwrite the newer attempt's result: its statement matches no row.
 *
 * A task whose cancel was requested while it ran (`cancel_reason`) ends `cancelled` whatever its
 * attempt's outcome: a late success, a failure, a retry or a release is discarded for it.
 * @module
 */
import { type SQL, sql } from 'drizzle-orm';
import type { TaskId } from '../types.js';
import { type EndedAttempt, withAttempt } from './history.js';
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

/** Whether the task's cancel was requested while it ran: its outcome is then `cancelled`. */
const CANCEL_REQUESTED = sql`cancel_reason is not null`;

/** `expression`, or for a task whose cancel was requested, `instead`. */
function unlessCancelled(expression: SQL, instead: SQL): SQL {
  return sql`case when ${CANCEL_REQUESTED} then ${instead} else ${expression} end`;
}

/** An outcome a claimed task ends with. */
export type Ending = 'succeeded' | 'cancelled';

/**
 * Transition "complete": `running` → `succeeded` (or the row deleted with `cleanSucceeded`), with
 * the nested tasks inserted in the same statement, so they exist exactly when the parent succeeded.
 * A task whose cancel was requested meanwhile turns `cancelled` instead, and gets no children.
 * Returns null when the lease was lost, else how it ended and its children's ids in submission order.
 */
export async function completeTask(
  context: StorageContext,
  lease: StartedLease,
  options: { deleteRow: boolean; children: NewTask[] },
): Promise<{ ending: Ending; childIds: TaskId[] } | null> {
  const table = tableOf(context);
  const now = nowOf(context);
  const succeed = options.deleteRow
    ? sql`delete from ${table} where ${held(lease)} and not ${CANCEL_REQUESTED} returning id`
    : sql`update ${table} set status = 'succeeded', lease_token = null, lease_expires_at = null,
          ${recordStart(context, lease.startedAgoMs)}, finished_at = ${now}, updated_at = ${now}
        where ${held(lease)} and not ${CANCEL_REQUESTED} returning id`;
  const cancel = sql`update ${table} set ${cancelledColumns(context, lease.startedAgoMs)}
        where ${held(lease)} and ${CANCEL_REQUESTED} returning id`;
  const children =
    options.children.length > 0
      ? sql`, children as (${insertChildren(context, options.children)})
           select (select count(*) from done)::int as done, (select count(*) from cancelled)::int as cancelled,
                  (select coalesce(json_agg(id::text order by id), '[]') from children)::text as children`
      : sql` select (select count(*) from done)::int as done, (select count(*) from cancelled)::int as cancelled,
               '[]' as children`;
  const [row] = await queryRows<{ done: number; cancelled: number; children: string }>(
    context.db,
    'complete',
    sql`with done as (${succeed}), cancelled as (${cancel})${children}`,
  );
  if (row && Number(row.cancelled) > 0) return { ending: 'cancelled', childIds: [] };
  if (!row || Number(row.done) === 0) return null;
  return { ending: 'succeeded', childIds: (JSON.parse(row.children) as string[]).map(Number) };
}

/**
 * The columns of transition "cancel" for a running task (its cancel requested, or its handler
 * threw `CancelTask`): `cancelled`, with the cancel's reason as its last error.
 */
function cancelledColumns(context: StorageContext, startedAgoMs: number | SQL, reason?: string): SQL {
  const now = nowOf(context);
  const why = reason === undefined ? sql`cancel_reason` : sql`coalesce(cancel_reason, ${reason})`;
  return sql`status = 'cancelled', last_error = ${why}, lease_token = null, lease_expires_at = null,
    ${recordStart(context, startedAgoMs)}, finished_at = ${now}, updated_at = ${now},
    attempt_history = ${withAttempt(ended(context, startedAgoMs, sql`'cancelled'`, why))}`;
}

/** The attempt a statement ends at its clock, having started `startedAgoMs` before it (if unrecorded). */
function ended(context: StorageContext, startedAgoMs: number | SQL, outcome: SQL, error: SQL): EndedAttempt {
  const startedAt = sql`coalesce(started_at, ${startTime(context, startedAgoMs)})`;
  // A start record is stamped by its own statement's clock, which may read a little later than
  // this one's: an attempt never ends before it started.
  return { startedAt, endedAt: sql`greatest(${nowOf(context)}, ${startedAt})`, outcome, error };
}

/**
 * Transition "cancel" for a running task whose attempt ended on a cancel: an operator's, delivered
 * by a heartbeat, or the handler's thrown `CancelTask` (`reason`). Returns false when the lease
 * was lost.
 */
export async function cancelRunning(
  context: StorageContext,
  lease: StartedLease,
  reason: string,
): Promise<boolean> {
  const rows = await queryRows(
    context.db,
    'cancel',
    sql`update ${tableOf(context)} set ${cancelledColumns(context, lease.startedAgoMs, reason)}
      where ${held(lease)} returning id`,
  );
  return rows.length > 0;
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
 * as in {@link completeTask}, for tasks without children. Returns how each lease still held ended,
 * by {@link leaseKey}; the others were lost and wrote nothing.
 */
export async function completeTasks(
  context: StorageContext,
  successes: Success[],
): Promise<Map<string, Ending>> {
  if (successes.length === 0) return new Map();
  const rows = await queryRows<{ id: string; lease_token: string; ending: Ending }>(
    context.db,
    'complete',
    sql`with ${completionCtes(context, successes)} select id, lease_token, ending from done`,
  );
  return endings(rows);
}

/** How each lease of `rows` (`[id, lease token, ending]`) ended, by {@link leaseKey}. */
export function endings(rows: { id: string; lease_token: string; ending: Ending }[]): Map<string, Ending> {
  return new Map(
    rows.map((row) => [leaseKey({ id: Number(row.id), leaseToken: row.lease_token }), row.ending]),
  );
}

/**
 * The common table expressions of {@link completeTasks}, ending in `done`: the id, lease token and
 * ending of each row written, kept as `succeeded`, deleted, or (its cancel requested) `cancelled`.
 */
export function completionCtes(context: StorageContext, successes: Success[]): SQL {
  const kept = successes.filter((success) => !success.deleteRow);
  const removed = successes.filter((success) => success.deleteRow);
  const parts: { name: string; cte: SQL }[] = [];
  // Kept rows turn `succeeded`, or `cancelled` in the same update; removed rows are deleted unless
  // their cancel was requested, and those turn `cancelled` in an update of their own.
  if (kept.length > 0) parts.push({ name: 'kept', cte: keepSucceeded(context, kept) });
  if (removed.length > 0) {
    parts.push({ name: 'removed', cte: deleteSucceeded(context, removed) });
    parts.push({ name: 'removed_cancelled', cte: cancelInstead(context, removed) });
  }
  const ctes = parts.map(({ name, cte }) => sql`${sql.raw(name)} as (${cte})`);
  const union = sql.join(
    parts.map(({ name }) => sql`select id, lease_token, ending from ${sql.raw(name)}`),
    sql` union all `,
  );
  return sql`${sql.join(ctes, sql`, `)}, done as (${union})`;
}

/**
 * `leases` as the relation `lease(id, lease_token[, ago_ms])`, in id order, so that a plan driven
 * by it locks rows in the same order in every batch; `agoMs` gives the `ago_ms` column.
 *
 * It travels compactly: the distinct tokens once (the tasks of one claim share its token), and
 * each lease as `[id, its token's index, ago_ms]`. A batch of 300 leases listed as JSON objects
 * took about 25 KB, and the bytes a statement carries cost the sender's CPU (on a loopback
 * connection the sender's write also does the receiving side's network work): in a CPU profile of
 * 90,000 tasks drained, listed so, the socket writes took 12 µs a task, and 7.5 µs with lists a
 * quarter that size.
 */
export function leaseRelation<Lease extends LeaseRef>(
  leases: Lease[],
  agoMs?: (lease: Lease) => number,
): SQL {
  const tokens: string[] = [];
  const tokenIndex = new Map<string, number>();
  const entries = [...leases]
    .sort((a, b) => a.id - b.id)
    .map((lease) => {
      let index = tokenIndex.get(lease.leaseToken);
      if (index === undefined) {
        index = tokens.push(lease.leaseToken) - 1;
        tokenIndex.set(lease.leaseToken, index);
      }
      return agoMs ? [lease.id, index, agoMs(lease)] : [lease.id, index];
    });
  const ago = agoMs ? sql`, (entry->>2)::float8 as ago_ms` : sql``;
  return sql`(select (entry->>0)::bigint as id, (${jsonParam(tokens)}->>(entry->>1)::int)::uuid as lease_token${ago}
      from jsonb_array_elements(${jsonParam(entries)}) as entry) as lease`;
}

const startedAgo = (lease: StartedLease) => lease.startedAgoMs;

/**
 * Rows held under a lease of `leases`, joined with their list as `lease`: found by primary key
 * through the id array, whatever the table's statistics say, one lookup per lease however many
 * tasks are running.
 *
 * The status is compared with a subquery's value, unknown while planning, so the planner cannot
 * prove that the lease index (partial on `status = 'running'`) covers the rows. With a literal,
 * statistics taken before the claims (which count no running task) make that index look empty:
 * the plan read every running row of it for each batch and searched the id array for each, which
 * took 9.8 ms for a batch of 320 among 6,500 running tasks, against 2.4 ms by primary key.
 */
export function heldByLease(leases: LeaseRef[]): SQL {
  return sql`task.id = any(${arrayParam(
    leases.map((lease) => lease.id),
    'bigint',
  )}) and task.id = lease.id and task.lease_token = lease.lease_token and task.status = (select 'running'::text)`;
}
const WRITTEN = sql`task.id::text as id, lease.lease_token::text as lease_token`;

function keepSucceeded(context: StorageContext, leases: StartedLease[]): SQL {
  const now = nowOf(context);
  return sql`update ${tableOf(context)} as task
      set status = ${unlessCancelled(sql`'succeeded'`, sql`'cancelled'`)},
        last_error = ${unlessCancelled(sql`task.last_error`, sql`task.cancel_reason`)},
        lease_token = null, lease_expires_at = null, ${recordStart(context, sql`lease.ago_ms`)},
        finished_at = ${now}, updated_at = ${now},
        attempt_history = ${unlessCancelled(
          sql`task.attempt_history`,
          withAttempt(ended(context, sql`lease.ago_ms`, sql`'cancelled'`, sql`task.cancel_reason`)),
        )}
      from ${leaseRelation(leases, startedAgo)}
      where ${heldByLease(leases)}
      returning ${WRITTEN}, task.status as ending`;
}

function deleteSucceeded(context: StorageContext, leases: StartedLease[]): SQL {
  return sql`delete from ${tableOf(context)} as task using ${leaseRelation(leases, startedAgo)}
      where ${heldByLease(leases)} and not ${CANCEL_REQUESTED}
      returning ${WRITTEN}, 'succeeded' as ending`;
}

/** Transition "cancel" for the listed running tasks whose cancel was requested. */
function cancelInstead(context: StorageContext, leases: StartedLease[]): SQL {
  return sql`update ${tableOf(context)} as task set ${cancelledColumns(context, sql`lease.ago_ms`)}
      from ${leaseRelation(leases, startedAgo)}
      where ${heldByLease(leases)} and ${CANCEL_REQUESTED}
      returning ${WRITTEN}, 'cancelled' as ending`;
}

/**
 * The id of the statement's transaction, kept with a failed task (`failure_xid`) so that each
 * maintenance round reports exactly the failures committed since the previous round's snapshot.
 */
export const CURRENT_XID = sql`pg_current_xact_id()::text::bigint`;

/**
 * Transition "retry" (`running` → `initialized`, due after `retryDelayMs`) when `retryDelayMs` is
 * a number, else transition "fail" (`running` → `failed`); a task whose cancel was requested turns
 * `cancelled` instead. Returns the status written, or null when the lease was lost.
 */
export async function failTask(
  context: StorageContext,
  lease: StartedLease,
  options: { error: string; retryDelayMs: number | null },
): Promise<'failed' | 'initialized' | 'cancelled' | null> {
  const table = tableOf(context);
  const now = nowOf(context);
  const next =
    options.retryDelayMs === null
      ? sql`status = ${unlessCancelled(sql`'failed'`, sql`'cancelled'`)}, finished_at = ${now},
          failure_xid = ${unlessCancelled(CURRENT_XID, sql`null`)}`
      : sql`status = ${unlessCancelled(sql`'initialized'`, sql`'cancelled'`)},
          run_at = ${now} + ${millis(options.retryDelayMs)},
          finished_at = ${unlessCancelled(sql`null`, now)}`;
  const error = unlessCancelled(sql`${options.error}`, sql`cancel_reason`);
  const outcome = unlessCancelled(
    options.retryDelayMs === null ? sql`'failed'` : sql`'retried'`,
    sql`'cancelled'`,
  );
  return writtenStatus(
    await queryRows<{ status: 'failed' | 'initialized' | 'cancelled' }>(
      context.db,
      'fail',
      sql`update ${table} set ${next}, last_error = ${error},
            lease_token = null, lease_expires_at = null, ${recordStart(context, lease.startedAgoMs)},
            attempt_history = ${withAttempt(ended(context, lease.startedAgoMs, outcome, error))},
            updated_at = ${now}
          where ${held(lease)} returning status`,
    ),
  );
}

function writtenStatus<Status>(rows: { status: Status }[]): Status | null {
  return rows[0]?.status ?? null;
}

/**
 * Transition "release": `running` → `initialized`, due now, the attempt not counted, with `reason`
 * as its last error; a task whose cancel was requested turns `cancelled` instead. For an attempt
 * the manager's stop or the invocation's deadline cut short. Returns the status written, or null
 * when the lease was lost.
 */
export async function releaseTask(
  context: StorageContext,
  lease: StartedLease,
  reason: string,
): Promise<'initialized' | 'cancelled' | null> {
  const now = nowOf(context);
  return writtenStatus(
    await queryRows<{ status: 'initialized' | 'cancelled' }>(
      context.db,
      'release',
      sql`update ${tableOf(context)} set status = ${unlessCancelled(sql`'initialized'`, sql`'cancelled'`)},
            attempts = ${unlessCancelled(sql`greatest(attempts - 1, 0)`, sql`attempts`)},
            run_at = ${now}, lease_token = null, lease_expires_at = null,
            finished_at = ${unlessCancelled(sql`null`, now)},
            ${recordStart(context, lease.startedAgoMs)},
            attempt_history = ${withAttempt(
              ended(
                context,
                lease.startedAgoMs,
                unlessCancelled(sql`'released'`, sql`'cancelled'`),
                unlessCancelled(sql`${reason}`, sql`cancel_reason`),
              ),
            )},
            last_error = ${unlessCancelled(sql`${reason}`, sql`cancel_reason`)}, updated_at = ${now}
          where ${held(lease)} returning status`,
    ),
  );
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
    sql`update ${table} as task set status = ${unlessCancelled(sql`'initialized'`, sql`'cancelled'`)},
          attempts = greatest(task.attempts - 1, 0), last_error = ${unlessCancelled(sql`task.last_error`, sql`task.cancel_reason`)},
          finished_at = ${unlessCancelled(sql`null`, nowOf(context))},
          lease_token = null, lease_expires_at = null, started_at = null, updated_at = ${nowOf(context)}
        from ${leaseRelation(leases)}
        where ${heldByLease(leases)}
        returning task.id`,
  );
  return rows.length;
}
