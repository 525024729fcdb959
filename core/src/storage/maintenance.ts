/**
 * Lease rescue and the maintenance round (abnormal-task check, cleanup). The round runs at most
 * once per interval across all instances: whoever moves the built-in row `gta:maintenance`
 * forward in time owns the round. The row is keyed by name, never by a fixed id.
 * @module
 */
import { sql } from 'drizzle-orm';
import type { AbnormalReason } from '../types.js';
import { rowColumns, type SelectedRow } from './rows.js';
import { millis, nowOf, queryRows, type StorageContext, tableOf } from './sql.js';

export const MAINTENANCE_KEY = 'gta:maintenance';

/**
 * Transition "rescue": running tasks whose lease expired go back to `initialized`, due now, or to
 * `failed` when their attempts are spent. Returns how many moved to each.
 *
 * A task claimed by its insert has no start time until its start is recorded: its invocation may
 * have ended right after the commit, before the handler started, so that attempt is given back
 * rather than counted. (A task enqueued on its own gets its start time with its outcome, so a
 * handler that kills its invocation on that first attempt runs once more than its attempts.)
 */
export async function rescueExpiredLeases(
  context: StorageContext,
  limit: number,
): Promise<{ retried: number; failed: number }> {
  const table = tableOf(context);
  const now = nowOf(context);
  const unrecorded = sql`task.started_at is null`;
  const retries = sql`(${unrecorded} or task.attempts < task.max_attempts)`;
  const rows = await queryRows<{ status: string }>(
    context.db,
    'rescue',
    sql`with expired as materialized (
        select id from ${table} where status = 'running' and lease_expires_at < ${now}
        order by lease_expires_at limit ${limit}::int for update skip locked)
      update ${table} as task set
        status = case when ${retries} then 'initialized' else 'failed' end,
        finished_at = case when ${retries} then null else ${now} end,
        attempts = case when ${unrecorded} then greatest(task.attempts - 1, 0) else task.attempts end,
        last_error = case when ${unrecorded}
          then 'lease expired before the commit hook recorded an attempt: the invocation ended right after its commit, or during the handler'
          else 'lease expired during attempt ' || task.attempts
            || ': the invocation ended or stalled before completing the task' end,
        run_at = ${now}, lease_token = null, lease_expires_at = null, updated_at = ${now}
      from expired
      where task.id = expired.id and task.status = 'running' and task.lease_expires_at < ${now}
      returning task.status`,
  );
  const failed = rows.filter((row) => row.status === 'failed').length;
  return { retried: rows.length - failed, failed };
}

/**
 * Takes the maintenance round if it is due: one statement that moves the built-in row's next run
 * forward only if it was due (so one caller per interval wins), or creates the row the first time.
 * The row is updated in place, so idle rounds consume no task ids. Returns null when this caller
 * does not own a round, else the start of this round and of the previous one (null when none ran
 * before), in epoch ms.
 */
export async function takeMaintenanceRound(
  context: StorageContext,
  intervalMs: number,
): Promise<{ previousRoundMs: number | null; roundMs: number } | null> {
  const table = tableOf(context);
  const now = nowOf(context);
  const isRoundRow = sql`task_key = ${MAINTENANCE_KEY} and dedupe_key = ${MAINTENANCE_KEY}`;
  const rows = await queryRows<{ previous: number | null; current: number }>(
    context.db,
    'maintenance round',
    sql`with previous as (select started_at from ${table} where ${isRoundRow}),
        advanced as (
          update ${table} set run_at = ${now} + ${millis(intervalMs)}, updated_at = ${now}, started_at = ${now},
            attempts = attempts + 1
          where ${isRoundRow} and run_at <= ${now}
          returning started_at),
        created as (
          insert into ${table} (task_key, dedupe_key, status, arg, max_attempts, timeout_ms,
            run_at, created_at, updated_at, started_at, finished_at)
          select ${MAINTENANCE_KEY}, ${MAINTENANCE_KEY}, 'succeeded', '{}'::jsonb, 1, 0,
            ${now} + ${millis(intervalMs)}, ${now}, ${now}, ${now}, ${now}
          where not exists (select 1 from previous)
          on conflict (task_key, dedupe_key) where dedupe_key is not null do nothing
          returning started_at)
        select (extract(epoch from previous.started_at) * 1000)::float8 as previous,
               (extract(epoch from taken.started_at) * 1000)::float8 as current
        from (select started_at from advanced union all select started_at from created) as taken
        left join previous on true`,
  );
  const [row] = rows;
  if (!row) return null;
  return {
    previousRoundMs: row.previous === null ? null : Number(row.previous),
    roundMs: Number(row.current),
  };
}

export interface AbnormalThresholds {
  initializedTimeout: number;
  runningTimeout: number;
  /**
   * Failed tasks finished in [failedSinceMs, failedUntilMs) are reported, so each round reports
   * each failure once; a null start means since `storageTimeout` ago (the first round).
   */
  failedSinceMs: number | null;
  /** A null end means now. */
  failedUntilMs: number | null;
  storageTimeout: number;
  limit: number;
}

/**
 * Tasks due too long without starting, running too long, and newly failed (built-ins excluded), at
 * most `limit` of each. `initTimeoutSensitive` tasks due too long are counted apart, so a backlog of
 * others cannot crowd them out: no scanner will ever start them, and this report is all they get.
 */
export async function findAbnormalTasks(
  context: StorageContext,
  thresholds: AbnormalThresholds,
): Promise<{ reason: AbnormalReason; row: SelectedRow }[]> {
  const table = tableOf(context);
  const now = nowOf(context);
  const failedSince =
    thresholds.failedSinceMs === null
      ? sql`${now} - ${millis(thresholds.storageTimeout)}`
      : sql`to_timestamp(${thresholds.failedSinceMs / 1000}::float8)`;
  const failedUntil =
    thresholds.failedUntilMs === null
      ? sql`${now} + interval '1 second'`
      : sql`to_timestamp(${thresholds.failedUntilMs / 1000}::float8)`;
  const rows = await queryRows<SelectedRow & { rank: number; reason: AbnormalReason }>(
    context.db,
    'abnormal check',
    sql`select * from (
        (select * from (
          (select 0 as rank, 'initialized-too-long' as reason, ${rowColumns('t')} from ${table} as t
            where t.status = 'initialized' and t.init_timeout_sensitive
              and t.run_at < ${now} - ${millis(thresholds.initializedTimeout)}
            order by t.run_at limit ${thresholds.limit}::int)
          union all
          (select 1, 'initialized-too-long', ${rowColumns('t')} from ${table} as t
            where t.status = 'initialized' and not t.init_timeout_sensitive
              and t.run_at < ${now} - ${millis(thresholds.initializedTimeout)}
            order by t.run_at limit ${thresholds.limit}::int)
        ) as overdue order by rank, run_at limit ${thresholds.limit}::int)
        union all
        (select 2, 'running-too-long', ${rowColumns('t')} from ${table} as t
          where t.status = 'running'
            and coalesce(t.started_at, t.created_at) < ${now} - ${millis(thresholds.runningTimeout)}
          order by coalesce(t.started_at, t.created_at) limit ${thresholds.limit}::int)
        union all
        (select 3, 'failed', ${rowColumns('t')} from ${table} as t
          where t.status = 'failed' and t.finished_at >= ${failedSince}
            and t.finished_at < ${failedUntil}
            and t.task_key not like 'gta:%'
          order by t.finished_at limit ${thresholds.limit}::int)
      ) as abnormal`,
  );
  // `rank` orders the overdue tasks (initTimeoutSensitive ones first); it is no part of the row.
  return rows.map(({ rank: _rank, reason, ...row }) => ({ reason, row }));
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
