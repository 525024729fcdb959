/**
 * Lease rescue and the maintenance round (abnormal-task check, cleanup). The round runs at most
 * once per interval across all instances: whoever moves the built-in row `gta:maintenance`
 * forward in time owns the round. The row is keyed by name, never by a fixed id.
 * @module
 */
import { type SQL, sql } from 'drizzle-orm';
import type { AbnormalReason } from '../types.js';
import { CURRENT_XID } from './complete.js';
import { withAttempt } from './history.js';
import { rowColumns, type SelectedRow } from './rows.js';
import {
  arrayParam,
  freshLeaseToken,
  millis,
  nowOf,
  queryRows,
  type StorageContext,
  tableOf,
} from './sql.js';

export const MAINTENANCE_KEY = 'gta:maintenance';

/**
 * Transition "rescue": running tasks whose lease expired go back to `initialized`, due now, or to
 * `failed` when their attempts are spent. Returns how many moved to each.
 *
 * An attempt counts only if its start was recorded. A claimed task has no start time until the
 * executor records the start of its handler (right after the handler started, or with its
 * outcome): its invocation may have ended before that, most often while the task waited in a
 * tick's queue or between a commit and its hook, so that attempt is given back rather than
 * counted, and the expiry is counted in `unstarted_expiries` (after one, the task's next attempts
 * start only once their start is recorded; see the executor). A handler that ended its invocation
 * before its start record was written thus runs at most once more than its attempts allow.
 */
export async function rescueExpiredLeases(
  context: StorageContext,
  limit: number,
): Promise<{ retried: number; failed: number; cancelled: number }> {
  const table = tableOf(context);
  const now = nowOf(context);
  const unrecorded = sql`task.started_at is null`;
  const retries = sql`(${unrecorded} or task.attempts < task.max_attempts)`;
  // A task whose cancel was requested ends there, whichever way its lease ran out.
  const cancelled = sql`task.cancel_reason is not null`;
  const expiredDuring = sql`'lease expired during attempt ' || task.attempts
    || ': the invocation ended or stalled before completing the task'`;
  const rows = await queryRows<{ status: string }>(
    context.db,
    'rescue',
    sql`with expired as materialized (
        select id from ${table} where status = 'running' and lease_expires_at < ${now}
        order by lease_expires_at limit ${limit}::int for update skip locked)
      update ${table} as task set
        status = case when ${cancelled} then 'cancelled' when ${retries} then 'initialized' else 'failed' end,
        finished_at = case when ${retries} and not ${cancelled} then null else ${now} end,
        attempts = case when ${unrecorded} then greatest(task.attempts - 1, 0) else task.attempts end,
        unstarted_expiries = task.unstarted_expiries + case when ${unrecorded} then 1 else 0 end,
        failure_xid = case when ${retries} or ${cancelled} then task.failure_xid else ${CURRENT_XID} end,
        last_error = case when ${cancelled} then task.cancel_reason when ${unrecorded}
          then 'lease expired before the start of an attempt was recorded: the invocation ended before the handler started (or right after), so the attempt is not counted'
          else ${expiredDuring} end,
        -- A claim whose start was never recorded is no attempt, and leaves no entry.
        attempt_history = case when ${unrecorded} then task.attempt_history else ${withAttempt({
          startedAt: sql`task.started_at`,
          endedAt: now,
          outcome: sql`case when ${cancelled} then 'cancelled' else 'expired' end`,
          error: sql`coalesce(task.cancel_reason, ${expiredDuring})`,
        })} end,
        run_at = ${now}, lease_token = null, lease_expires_at = null, updated_at = ${now}
      from expired
      where task.id = expired.id and task.status = 'running' and task.lease_expires_at < ${now}
      returning task.status`,
  );
  const failed = rows.filter((row) => row.status === 'failed').length;
  const cancelledCount = rows.filter((row) => row.status === 'cancelled').length;
  return { retried: rows.length - failed - cancelledCount, failed, cancelled: cancelledCount };
}

/** A maintenance round this caller owns, until it ends it ({@link endMaintenanceRound}). */
export interface MaintenanceRound {
  /** Fences the round: only its owner can end it. */
  token: string;
  /**
   * The database snapshot (`pg_snapshot` text) of the last round whose failure report completed,
   * or null when none did: this round reports the failures committed after it.
   */
  previousSnapshot: string | null;
  /** This round's snapshot: it reports the failures committed by then. */
  snapshot: string;
}

/**
 * How long a round stays owned at least, while its report runs: a round whose owner died is taken
 * again after that, and reports again from the last completed report.
 */
export const MAINTENANCE_LEASE_MS = 60_000;

/**
 * Takes the maintenance round if it is due and no other instance owns one: one statement that
 * moves the built-in row's next run forward and leases it to this caller (so one caller per
 * interval wins, and a round still reporting keeps it), or creates the row the first time. The
 * row is updated in place, so idle rounds consume no task ids. Returns null when this caller does
 * not own a round.
 *
 * The last completed report's snapshot is read from the row the update itself wrote over, the
 * newest version, not from this statement's snapshot, which may predate a round that committed
 * while this statement waited for the row.
 */
export async function takeMaintenanceRound(
  context: StorageContext,
  intervalMs: number,
): Promise<MaintenanceRound | null> {
  const table = tableOf(context);
  const now = nowOf(context);
  const token = freshLeaseToken();
  const lease = sql`${now} + ${millis(Math.max(intervalMs, MAINTENANCE_LEASE_MS))}`;
  const isRoundRow = sql`task_key = ${MAINTENANCE_KEY} and dedupe_key = ${MAINTENANCE_KEY}`;
  const rows = await queryRows<{ previous_snapshot: string | null; snapshot: string }>(
    context.db,
    'maintenance round',
    sql`with advanced as (
          update ${table} set run_at = ${now} + ${millis(intervalMs)}, updated_at = ${now}, started_at = ${now},
            attempts = attempts + 1, lease_token = ${token}::uuid, lease_expires_at = ${lease}
          where ${isRoundRow} and run_at <= ${now} and (lease_token is null or lease_expires_at < ${now})
          returning context),
        created as (
          insert into ${table} (task_key, dedupe_key, status, arg, max_attempts, timeout_ms,
            run_at, created_at, updated_at, started_at, finished_at, lease_token, lease_expires_at)
          select ${MAINTENANCE_KEY}, ${MAINTENANCE_KEY}, 'succeeded', '{}'::jsonb, 1, 0,
            ${now} + ${millis(intervalMs)}, ${now}, ${now}, ${now}, ${now}, ${token}::uuid, ${lease}
          where not exists (select 1 from ${table} where ${isRoundRow})
          on conflict (task_key, dedupe_key) where dedupe_key is not null do nothing
          returning context)
        select taken.context as previous_snapshot, pg_current_snapshot()::text as snapshot
        from (select context from advanced union all select context from created) as taken`,
  );
  const [row] = rows;
  if (!row) return null;
  return { token, previousSnapshot: row.previous_snapshot, snapshot: row.snapshot };
}

/**
 * Ends the round `round` owns: with `completed`, its failure report reached `checkCallback` whole,
 * and the next round reports from its snapshot; without, the next round reports again from the
 * previous one (a failure may then be reported twice, never missed).
 */
export async function endMaintenanceRound(
  context: StorageContext,
  round: MaintenanceRound,
  completed: boolean,
): Promise<void> {
  const reported = completed ? sql`context = ${round.snapshot}, ` : sql``;
  await queryRows(
    context.db,
    'maintenance round end',
    sql`update ${tableOf(context)} set ${reported}lease_token = null, lease_expires_at = null
      where task_key = ${MAINTENANCE_KEY} and dedupe_key = ${MAINTENANCE_KEY}
        and lease_token = ${round.token}::uuid
      returning id`,
  );
}

export interface AbnormalThresholds {
  initializedTimeout: number;
  runningTimeout: number;
  /**
   * Which failed tasks to report: those a maintenance round newly sees (committed after the
   * previous round's snapshot and by this round's), so each round reports each failure once, or,
   * with null, every task that failed within `storageTimeout` (the operator's view).
   */
  round: Pick<MaintenanceRound, 'previousSnapshot' | 'snapshot'> | null;
  /**
   * Page through the failures: only failed tasks are reported, those after this one in the
   * report's order (`failure_xid`, then id). Null for the first page, which has every reason.
   */
  failedAfter: FailureCursor | null;
  storageTimeout: number;
  /**
   * A tick's whole window (ms): due tasks of `keys` whose timeout is longer are reported, as no
   * such tick will claim them. Null when the caller has no deadline.
   */
  tickWindow: { ms: number; keys: string[] } | null;
  limit: number;
}

/** Where a page of failed tasks ended: its last row's transaction id (0 for none) and id. */
export interface FailureCursor {
  xid: string;
  id: string;
}

/** A `bigint` transaction id as `xid8`, for the snapshot functions. */
function xid8(column: SQL): SQL {
  return sql`${column}::text::xid8`;
}

/**
 * The failed tasks to report (see {@link AbnormalThresholds.round}). A failure the previous round's
 * snapshot did not see has a transaction id at least that snapshot's xmin, which the index on
 * `failure_xid` finds; the first round, which has no previous snapshot, reports what failed within
 * `storageTimeout` and committed by its own snapshot.
 */
function newlyFailed(thresholds: AbnormalThresholds, now: SQL): SQL {
  const { round } = thresholds;
  const recent = sql`t.finished_at >= ${now} - ${millis(thresholds.storageTimeout)}`;
  if (round === null) return recent;
  const seenNow = sql`pg_visible_in_snapshot(${xid8(sql`t.failure_xid`)}, ${round.snapshot}::pg_snapshot)`;
  if (round.previousSnapshot === null) return sql`${recent} and (t.failure_xid is null or ${seenNow})`;
  const previous = sql`${round.previousSnapshot}::pg_snapshot`;
  return sql`t.failure_xid >= pg_snapshot_xmin(${previous})::text::bigint and ${seenNow}
      and not pg_visible_in_snapshot(${xid8(sql`t.failure_xid`)}, ${previous})`;
}

/** The order failed tasks are reported in, and paged by. */
const FAILED_ORDER = sql`coalesce(t.failure_xid, 0), t.id`;

/**
 * Tasks due too long without starting, running too long, newly failed (built-ins excluded), and
 * due but too long for the caller's tick window, at most `limit` of each. `initTimeoutSensitive`
 * tasks due too long are counted apart, so a backlog of others cannot crowd them out: no scanner
 * will ever start them, and this report is all they get.
 */
export async function findAbnormalTasks(
  context: StorageContext,
  thresholds: AbnormalThresholds,
): Promise<AbnormalRow[]> {
  const table = tableOf(context);
  const now = nowOf(context);
  const failedAfter = thresholds.failedAfter
    ? sql`and (coalesce(t.failure_xid, 0), t.id) > (${thresholds.failedAfter.xid}::bigint, ${thresholds.failedAfter.id}::bigint)`
    : sql``;
  const failed = sql`(select 3 as rank, 'failed' as reason, ${rowColumns('t')},
        coalesce(t.failure_xid, 0)::text as failure_xid from ${table} as t
      where t.status = 'failed' and ${newlyFailed(thresholds, now)} ${failedAfter}
        and t.task_key not like 'gta:%'
      order by ${FAILED_ORDER} limit ${thresholds.limit}::int)`;
  if (thresholds.failedAfter) return abnormalRows(context, failed);
  const window = thresholds.tickWindow;
  const tooLong = window
    ? sql`union all
        (select 4, 'exceeds-tick-window', ${rowColumns('t')}, null from ${table} as t
          where t.status = 'initialized' and t.run_at <= ${now} and t.timeout_ms > ${window.ms}::float8
            and t.task_key = any(${arrayParam(window.keys, 'text')})
          order by t.run_at limit ${thresholds.limit}::int)`
    : sql``;
  const others = sql`(select * from (
        (select 0 as rank, 'initialized-too-long' as reason, ${rowColumns('t')}, null as failure_xid from ${table} as t
          where t.status = 'initialized' and t.init_timeout_sensitive
            and t.run_at < ${now} - ${millis(thresholds.initializedTimeout)}
          order by t.run_at limit ${thresholds.limit}::int)
        union all
        (select 1, 'initialized-too-long', ${rowColumns('t')}, null from ${table} as t
          where t.status = 'initialized' and not t.init_timeout_sensitive
            and t.run_at < ${now} - ${millis(thresholds.initializedTimeout)}
          order by t.run_at limit ${thresholds.limit}::int)
      ) as overdue order by rank, run_at limit ${thresholds.limit}::int)
      union all
      (select 2, 'running-too-long', ${rowColumns('t')}, null from ${table} as t
        where t.status = 'running'
          and coalesce(t.started_at, t.updated_at) < ${now} - ${millis(thresholds.runningTimeout)}
        order by coalesce(t.started_at, t.updated_at) limit ${thresholds.limit}::int)
      ${tooLong}`;
  return abnormalRows(context, sql`${others} union all ${failed}`);
}

/** Runs an abnormal-check query; `rank` and `failure_xid` order and page the rows, and are no part of them. */
async function abnormalRows(context: StorageContext, query: SQL): Promise<AbnormalRow[]> {
  const rows = await queryRows<
    SelectedRow & { rank: number; reason: AbnormalReason; failure_xid: string | null }
  >(context.db, 'abnormal check', sql`select * from (${query}) as abnormal`);
  return rows.map(({ rank: _rank, reason, failure_xid, ...row }) =>
    reason === 'failed' ? { reason, row, cursor: { xid: String(failure_xid), id: row.id } } : { reason, row },
  );
}

/** An abnormal task; a failed one carries where its page of failures may go on. */
export interface AbnormalRow {
  reason: AbnormalReason;
  row: SelectedRow;
  cursor?: FailureCursor;
}

/** Deletes up to `limit` succeeded tasks last updated before `storageTimeout` ago. */
export async function cleanSucceededTasks(
  context: StorageContext,
  options: { storageTimeout: number; limit: number },
): Promise<number> {
  const table = tableOf(context);
  const now = nowOf(context);
  const rows = await queryRows(
    context.db,
    'cleanup',
    sql`with old as materialized (
        select id from ${table}
        where status = 'succeeded' and updated_at < ${now} - ${millis(options.storageTimeout)}
          and task_key not like 'gta:%'
        limit ${options.limit}::int for update skip locked)
      delete from ${table} as task using old where task.id = old.id and task.status = 'succeeded'
      returning task.id`,
  );
  return rows.length;
}
