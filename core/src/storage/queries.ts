/**
 * Reading tasks, and the operator's writes: forced rerun and cancel. Built-in rows (`gta:` keys)
 * are never listed, counted, rerun or cancelled.
 * @module
 */
import { type SQL, sql } from 'drizzle-orm';
import type { TaskStatus } from '../states.js';
import type { TaskId } from '../types.js';
import { withAttempt } from './history.js';
import { rowColumns, type SelectedRow } from './rows.js';
import { arrayParam, nowOf, queryRows, type StorageContext, tableOf } from './sql.js';

const NOT_BUILTIN = sql`t.task_key not like 'gta:%'`;

export async function getTask(context: StorageContext, id: TaskId): Promise<SelectedRow | null> {
  const rows = await queryRows<SelectedRow>(
    context.db,
    'getTask',
    sql`select ${rowColumns('t')} from ${tableOf(context)} as t where t.id = ${id}::bigint and ${NOT_BUILTIN}`,
  );
  return rows[0] ?? null;
}

export interface ListQuery {
  statuses: TaskStatus[] | null;
  key: string | null;
  createdAfter: string | null;
  createdBefore: string | null;
  updatedAfter: string | null;
  updatedBefore: string | null;
  beforeId: TaskId | null;
  limit: number;
}

/** Tasks newest first, filtered, with keyset pagination on the id. */
export async function listTasks(context: StorageContext, query: ListQuery): Promise<SelectedRow[]> {
  const conditions: SQL[] = [NOT_BUILTIN];
  if (query.statuses) {
    conditions.push(sql`t.status = any(${arrayParam(query.statuses, 'text')})`);
  }
  if (query.key !== null) conditions.push(sql`t.task_key = ${query.key}`);
  if (query.createdAfter !== null) conditions.push(sql`t.created_at >= ${query.createdAfter}::timestamptz`);
  if (query.createdBefore !== null) conditions.push(sql`t.created_at < ${query.createdBefore}::timestamptz`);
  if (query.updatedAfter !== null) conditions.push(sql`t.updated_at >= ${query.updatedAfter}::timestamptz`);
  if (query.updatedBefore !== null) conditions.push(sql`t.updated_at < ${query.updatedBefore}::timestamptz`);
  if (query.beforeId !== null) conditions.push(sql`t.id < ${query.beforeId}::bigint`);
  return queryRows<SelectedRow>(
    context.db,
    'listTasks',
    sql`select ${rowColumns('t')} from ${tableOf(context)} as t
        where ${sql.join(conditions, sql` and `)}
        order by t.id desc limit ${query.limit}::int`,
  );
}

/** Every task not `succeeded`, oldest first, in a stable order (by id). */
export async function queryUnsuccessfulTasks(
  context: StorageContext,
  page: { limit: number; offset: number },
): Promise<SelectedRow[]> {
  return queryRows<SelectedRow>(
    context.db,
    'queryUnsuccessfulTasks',
    sql`select ${rowColumns('t')} from ${tableOf(context)} as t
        where t.status <> 'succeeded' and ${NOT_BUILTIN}
        order by t.id limit ${page.limit}::int offset ${page.offset}::int`,
  );
}

export interface StatsRows {
  counts: { task_key: string; status: string; count: number }[];
  oldestInitializedAgeMs: number | null;
}

export async function taskStats(context: StorageContext): Promise<StatsRows> {
  const table = tableOf(context);
  const now = nowOf(context);
  const counts = await queryRows<{ task_key: string; status: string; count: number }>(
    context.db,
    'stats',
    sql`select t.task_key, t.status, count(*)::int as count from ${table} as t
        where ${NOT_BUILTIN} group by t.task_key, t.status order by t.task_key, t.status`,
  );
  const [oldest] = await queryRows<{ age_ms: number | null }>(
    context.db,
    'stats: oldest',
    sql`select (extract(epoch from (${now} - min(t.run_at))) * 1000)::float8 as age_ms from ${table} as t
        where t.status = 'initialized' and t.run_at <= ${now} and ${NOT_BUILTIN}`,
  );
  return {
    counts: counts.map((row) => ({ ...row, count: Number(row.count) })),
    oldestInitializedAgeMs: oldest?.age_ms == null ? null : Number(oldest.age_ms),
  };
}

/**
 * Transition "force rerun": the given tasks currently in `status` go to `initialized`, due now,
 * with a fresh attempt budget and a cleared lease (which fences out a running executor).
 */
/** The error of the entry a forced rerun writes for the attempt it cut off. */
export const FENCED_BY_RERUN = 'released by a forced rerun while it ran; its result is discarded';

/**
 * The history of a task a rerun moves back to `initialized`: a success, which the row alone showed,
 * joins it, and so does a running attempt whose handler started, which the rerun fences out (its
 * result will find its lease gone and write nothing). Every other ending is there already.
 */
function rerunHistory(context: StorageContext): SQL {
  return sql`case
  when t.status = 'succeeded' and t.started_at is not null then ${withAttempt({
    startedAt: sql`t.started_at`,
    endedAt: sql`t.finished_at`,
    outcome: sql`'succeeded'`,
    error: sql`null`,
  })}
  when t.status = 'running' and t.started_at is not null then ${withAttempt({
    startedAt: sql`t.started_at`,
    endedAt: sql`greatest(${nowOf(context)}, t.started_at)`,
    outcome: sql`'released'`,
    error: sql`${FENCED_BY_RERUN}::text`,
  })}
  else t.attempt_history end`;
}

export async function forceRerunTasks(
  context: StorageContext,
  ids: TaskId[],
  status: TaskStatus,
): Promise<number> {
  if (ids.length === 0) return 0;
  const now = nowOf(context);
  const rows = await queryRows(
    context.db,
    'forceRerunTasks',
    sql`update ${tableOf(context)} as t set status = 'initialized', attempts = 0, run_at = ${now},
          lease_token = null, lease_expires_at = null, finished_at = null, cancel_reason = null,
          attempt_history = ${rerunHistory(context)}, updated_at = ${now}
        where t.id = any(${arrayParam(ids, 'bigint')})
          and t.status = ${status} and ${NOT_BUILTIN}
        returning t.id`,
  );
  return rows.length;
}

/**
 * Transition "cancel" for an operator: an `initialized` task becomes `cancelled` with `reason` at
 * once; a `running` one gets a cancel request, which the heartbeat of the invocation running it
 * delivers to its handler, and it turns `cancelled` once that handler settled (or its lease ran
 * out). Returns which of the two happened, or null for a task in neither state (or already asked).
 */
export async function cancelTask(
  context: StorageContext,
  id: TaskId,
  reason: string,
): Promise<'cancelled' | 'requested' | null> {
  const now = nowOf(context);
  const table = tableOf(context);
  const rows = await queryRows<{ outcome: 'cancelled' | 'requested' }>(
    context.db,
    'cancelTask',
    sql`with waiting as (
        update ${table} as t set status = 'cancelled', last_error = ${reason}, finished_at = ${now}, updated_at = ${now}
        where t.id = ${id}::bigint and t.status = 'initialized' and ${NOT_BUILTIN}
        returning 'cancelled' as outcome),
      running as (
        update ${table} as t set cancel_reason = ${reason}, updated_at = ${now}
        where t.id = ${id}::bigint and t.status = 'running' and t.cancel_reason is null and ${NOT_BUILTIN}
        returning 'requested' as outcome)
      select outcome from waiting union all select outcome from running`,
  );
  return rows[0]?.outcome ?? null;
}

export interface ThroughputRow {
  minute: number;
  succeeded: number;
  failed: number;
}

/**
 * Tasks finished per minute over the last `minutes` minutes (succeeded ones deleted by
 * `cleanSucceeded` are not counted), oldest minute first; minutes with no finish are left out.
 */
export async function taskThroughput(context: StorageContext, minutes: number): Promise<ThroughputRow[]> {
  const now = nowOf(context);
  const rows = await queryRows<ThroughputRow>(
    context.db,
    'throughput',
    sql`select (extract(epoch from date_trunc('minute', t.finished_at)) * 1000)::float8 as minute,
          count(*) filter (where t.status = 'succeeded')::int as succeeded,
          count(*) filter (where t.status = 'failed')::int as failed
        from ${tableOf(context)} as t
        where t.finished_at >= date_trunc('minute', ${now}) - ${minutes - 1}::int * interval '1 minute'
          and t.status in ('succeeded', 'failed') and ${NOT_BUILTIN}
        group by 1 order by 1`,
  );
  return rows.map((row) => ({
    minute: Number(row.minute),
    succeeded: Number(row.succeeded),
    failed: Number(row.failed),
  }));
}
