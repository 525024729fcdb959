/**
 * Claiming due tasks: one statement that locks up to n due rows with `FOR UPDATE SKIP LOCKED` and
 * updates them, so it needs no interactive transaction and many invocations can claim at once
 * without waiting on each other. Each claim statement draws a fresh lease token (the fencing token).
 *
 * The candidates sit in a materialized CTE rather than in `WHERE id IN (SELECT … LIMIT n)`: as a
 * subquery, the planner may rescan it and update more than n rows.
 * @module
 */
import { type SQL, sql } from 'drizzle-orm';
import type { TaskId } from '../types.js';
import { completeTasks, completionCtes, type LeaseRef, leaseKey, type Success } from './complete.js';
import { type ClaimedColumns, claimedColumns, claimedRow, type SelectedRow } from './rows.js';
import { freshLeaseToken, jsonParam, millis, nowOf, queryRows, type StorageContext, tableOf } from './sql.js';

export interface ClaimOptions {
  /** Most tasks to claim. */
  limit: number;
  /** Task keys this process can run; other keys wait for an instance that knows them. */
  keys: string[];
  /** Only these ids (the commit hook's own tasks); otherwise any due task. */
  ids?: TaskId[];
  leaseMargin: number;
  /**
   * Extra lease time for tasks claimed ahead of a free slot, covering their wait in the local
   * queue, so a task starts with at least its timeout plus `leaseMargin` left. @defaultValue 0
   */
  queueAllowance?: number;
  /** `initTimeoutSensitive` tasks due for longer than this are left for the abnormal check. */
  initializedTimeout: number;
}

interface ClaimParts {
  candidates: SQL;
  update: SQL;
  /** The number of columns `update` returns. */
  columns: number;
  /** The claimed rows as the statement returned them, completed into whole rows. */
  rowsOf: (returned: ClaimedColumns[]) => SelectedRow[];
}

/** The candidates CTE and the update of a claim, for `with candidates … update …`. */
function claimParts(context: StorageContext, options: ClaimOptions): ClaimParts {
  const table = tableOf(context);
  const now = nowOf(context);
  const onlyIds: SQL = options.ids
    ? sql`and candidate.id in (select value::bigint from jsonb_array_elements_text(${jsonParam(options.ids)}))`
    : sql``;
  const leaseMs = options.leaseMargin + (options.queueAllowance ?? 0);
  const leaseToken = freshLeaseToken();
  const returning = claimedColumns('task', now);
  return {
    candidates: sql`candidates as materialized (
        select candidate.id from ${table} as candidate
        where candidate.status = 'initialized'
          and candidate.run_at <= ${now}
          and candidate.task_key in (select jsonb_array_elements_text(${jsonParam(options.keys)}))
          and not (candidate.init_timeout_sensitive and candidate.run_at < ${now} - ${millis(options.initializedTimeout)})
          and (candidate.sequence_key is null or not exists (
            select 1 from ${table} as earlier
            where earlier.sequence_key = candidate.sequence_key
              and earlier.status in ('initialized', 'running')
              and earlier.id < candidate.id))
          ${onlyIds}
        order by candidate.run_at, candidate.id
        limit ${options.limit}::int
        for update skip locked)`,
    update: sql`update ${table} as task set
        status = 'running',
        attempts = task.attempts + 1,
        lease_token = ${leaseToken}::uuid,
        lease_expires_at = ${now} + ((task.timeout_ms + ${leaseMs}::float8) * interval '1 millisecond'),
        started_at = ${now},
        finished_at = null,
        updated_at = ${now}
      from candidates
      where task.id = candidates.id and task.status = 'initialized'
      returning ${sql.join(returning, sql`, `)}`,
    columns: returning.length,
    rowsOf: (returned) => inRunOrder(returned.map((row) => claimedRow(row, leaseToken, leaseMs))),
  };
}

function inRunOrder(rows: SelectedRow[]): SelectedRow[] {
  return rows.sort((a, b) => a.run_at - b.run_at || Number(a.id) - Number(b.id));
}

/** Claims up to `limit` due tasks, moving them `initialized` → `running` (transition "claim"). */
export async function claimTasks(context: StorageContext, options: ClaimOptions): Promise<SelectedRow[]> {
  if (options.limit <= 0 || options.keys.length === 0 || options.ids?.length === 0) return [];
  const { candidates, update, rowsOf } = claimParts(context, options);
  return rowsOf(await queryRows<ClaimedColumns>(context.db, 'claim', sql`with ${candidates} ${update}`));
}

/**
 * {@link completeTasks} and {@link claimTasks} in one statement, saving a round trip: the
 * `successes` are written (each guarded by its lease) and, with `options`, due tasks claimed.
 * The two touch different rows (`running` ones, `initialized` ones); a successor in a sequence
 * whose predecessor completes here is claimed by a later statement, as this one's snapshot still
 * sees the predecessor running.
 */
export async function completeAndClaimTasks(
  context: StorageContext,
  successes: Success[],
  options: ClaimOptions | undefined,
): Promise<{ completed: Set<string>; claimed: SelectedRow[] }> {
  if (!options || options.limit <= 0 || options.keys.length === 0 || options.ids?.length === 0) {
    return { completed: await completeTasks(context, successes), claimed: [] };
  }
  if (successes.length === 0) return { completed: new Set(), claimed: await claimTasks(context, options) };
  const { candidates, update, columns, rowsOf } = claimParts(context, options);
  // One row per claimed task, and one more, null but for `done`, listing the completions written.
  const rows = await queryRows<ClaimedColumns & { done: string | null }>(
    context.db,
    'complete and claim',
    sql`with ${completionCtes(context, successes)}, ${candidates}, claimed as (${update})
      select claimed.*, null as done from claimed
      union all
      select ${sql.raw(Array(columns).fill('null').join(', '))},
        coalesce(json_agg(json_build_array(done.id, done.lease_token)), '[]')::text from done`,
  );
  const claimed: ClaimedColumns[] = [];
  let done: [string, string][] = [];
  for (const row of rows) {
    if (row.done === null) claimed.push(row);
    else done = JSON.parse(row.done) as [string, string][];
  }
  return {
    completed: new Set(done.map(([id, leaseToken]) => leaseKey({ id: Number(id), leaseToken }))),
    claimed: rowsOf(claimed),
  };
}

/**
 * Rows held under one of `leases`, planned cheaply for the usual single lease. Matching ids and
 * tokens separately is exact here: each token came from the insert of these very ids.
 */
function leasesHeld(leases: LeaseRef[]): SQL {
  if (leases.length === 1) {
    return sql`task.id = ${leases[0]!.id}::bigint and task.lease_token = ${leases[0]!.leaseToken}::uuid`;
  }
  const ids = leases.map((lease) => lease.id);
  const tokens = [...new Set(leases.map((lease) => lease.leaseToken))];
  return sql`task.id in (select value::bigint from jsonb_array_elements_text(${jsonParam(ids)}))
    and task.lease_token in (select value::uuid from jsonb_array_elements_text(${jsonParam(tokens)}))`;
}

/**
 * Confirms, right after their transaction committed, the tasks its inserts claimed, and records the
 * start of those among them that start at once (`startingNow`; the others wait for a slot and get
 * their start time with their outcome). Returns the start time of each lease still held, null for
 * one confirmed but not started. A row the transaction did not in fact commit (COMMIT after an
 * error the caller caught rolls back without a word; so does a savepoint that rolled back over the
 * insert) matches nothing, and its task must not start.
 */
export async function recordStarts(
  context: StorageContext,
  leases: LeaseRef[],
  startingNow: TaskId[],
): Promise<Map<string, number | null>> {
  if (leases.length === 0) return new Map();
  const now = nowOf(context);
  const starts =
    startingNow.length === leases.length
      ? now
      : sql`case when task.id in (select value::bigint from jsonb_array_elements_text(${jsonParam(startingNow)}))
          then ${now} end`;
  const rows = await queryRows<{ id: string; lease_token: string; started_at: number | null }>(
    context.db,
    'record start',
    // Only `started_at`, which no index holds, so the row can be updated in place (a HOT update).
    // Its commit need not wait for the WAL flush: were it lost in a database crash, the start would
    // only read as not recorded, which costs no attempt.
    sql`update ${tableOf(context)} as task set started_at = ${starts}
      from (select set_config('synchronous_commit', 'off', true)) as no_flush
      where ${leasesHeld(leases)} and task.status = 'running' and task.started_at is null
      returning task.id::text as id, task.lease_token::text as lease_token,
        (extract(epoch from task.started_at) * 1000)::float8 as started_at`,
  );
  return new Map(
    rows.map((row) => [
      leaseKey({ id: Number(row.id), leaseToken: row.lease_token }),
      row.started_at === null ? null : Number(row.started_at),
    ]),
  );
}
