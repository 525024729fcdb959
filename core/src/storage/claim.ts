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
import {
  completeTasks,
  completionCtes,
  type Ending,
  heldByLease,
  type LeaseRef,
  leaseKey,
  leaseRelation,
  type Success,
  startTime,
} from './complete.js';
import { type GroupLimits, limitedClaim, limitsFor } from './limits.js';
import { type ClaimedColumns, claimedColumns, claimedRow, type SelectedRow } from './rows.js';
import {
  arrayParam,
  freshLeaseToken,
  millis,
  nowOf,
  queryRows,
  type StorageContext,
  tableOf,
} from './sql.js';

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
  /** Tasks whose timeout is longer than this are left alone (they would outlive the invocation). */
  maxTimeoutMs?: number;
  /**
   * The most of a task's timeout a lease covers: beyond it, the heartbeats of the invocation that
   * runs the task renew its lease, so that a dead invocation's tasks are rescued in seconds.
   */
  heartbeatLeaseMs: number;
  /** The group limits of the tasks this process can run ({@link limitedClaim}). */
  limits?: GroupLimits;
  /**
   * Most rate-limited tasks to claim: those the claimer starts at once. A rate slot counts from
   * the claim, so a rate-limited task that waited in a queue would start later in its window.
   * @defaultValue `limit`
   */
  rateLimitedMax?: number;
}

/** What a claim took, and what it passed over for group limits. */
export interface Claimed {
  rows: SelectedRow[];
  /** Due tasks the claim looked at but did not take, their groups being at a limit. */
  passedOver: number;
  /** Of those, the rate-limited ones it moved to a later `run_at`, out of the due tasks. */
  deferred: number;
}

/**
 * Whether more may be due after `claimed`, a claim of up to `wanted` tasks: it took or passed over
 * as many as it was asked for, and made progress (a claim that only passed over tasks still due
 * would see them again).
 */
export function moreMayBeDue(claimed: Claimed, wanted: number): boolean {
  const progressed = claimed.rows.length > 0 || claimed.deferred > 0;
  return progressed && claimed.rows.length + claimed.passedOver >= wanted;
}

interface ClaimParts {
  /** The CTEs before the update: the candidates, and what applies group limits to them. */
  ctes: SQL[];
  update: SQL;
  /** The number of columns `update` returns. */
  columns: number;
  /** With group limits: the passed-over and deferred counts, as two columns for the last row. */
  counts: SQL | null;
  /** The claimed rows as the statement returned them, completed into whole rows. */
  rowsOf: (returned: ClaimedColumns[]) => SelectedRow[];
}

/** The counts of {@link ClaimParts}, as the statement's last row returns them. */
interface ClaimCounts {
  passed_over: number | null;
  deferred: number | null;
}

/**
 * The candidates CTE and the update of a claim, for `with candidates … update …`.
 *
 * A task with a sequence key is a candidate only while no task of its key is `running` and no
 * earlier task of its key waits (`initialized`), except an overdue `initTimeoutSensitive` one,
 * which no scanner will start. What this statement's snapshot cannot see, a claim of another task
 * of the key committing meanwhile, the unique index on running sequence keys refuses (see
 * {@link claimTasks}). The claim records no start: the executor does once the handler started, so
 * a claim whose handler never started (its invocation ended first) costs no attempt.
 */
function claimParts(context: StorageContext, options: ClaimOptions): ClaimParts {
  const table = tableOf(context);
  const now = nowOf(context);
  const onlyIds: SQL = options.ids
    ? sql`and candidate.id = any(${arrayParam(options.ids, 'bigint')})`
    : sql``;
  const fitsTime: SQL =
    options.maxTimeoutMs === undefined
      ? sql``
      : sql`and candidate.timeout_ms <= ${options.maxTimeoutMs}::float8`;
  const overdue = (alias: string) =>
    sql`(${sql.raw(alias)}.init_timeout_sensitive and ${sql.raw(alias)}.run_at < ${now} - ${millis(options.initializedTimeout)})`;
  const leaseMs = options.leaseMargin + (options.queueAllowance ?? 0);
  const leaseToken = freshLeaseToken();
  const returning = claimedColumns('task', now);
  const limits = limitsFor(options.limits, options.keys);
  const limited = limits
    ? limitedClaim(context, limits, options.limit, options.rateLimitedMax ?? options.limit)
    : null;
  const candidates = sql`candidates as materialized (
        select candidate.id${limited?.candidateColumns ?? sql``} from ${table} as candidate
        where candidate.status = 'initialized'
          and candidate.run_at <= ${now}
          and candidate.task_key = any(${arrayParam(options.keys, 'text')})
          and not ${overdue('candidate')}
          ${fitsTime}
          and (candidate.sequence_key is null or not exists (
            select 1 from ${table} as other
            where other.sequence_key = candidate.sequence_key
              and (other.status = 'running'
                or (other.status = 'initialized' and other.id < candidate.id and not ${overdue('other')}))))
          ${onlyIds}
          ${limited ? sql`and ${limited.groupHasRoom}` : sql``}
        order by candidate.priority desc, candidate.run_at, candidate.id
        limit ${options.limit}::int
        for update of candidate skip locked)`;
  // Without group limits every candidate starts, and none holds a concurrency slot.
  const chosen = limited ? sql`chosen` : sql`candidates`;
  return {
    ctes: limited ? [...limited.before, candidates, ...limited.after] : [candidates],
    update: sql`update ${table} as task set
        status = 'running',
        attempts = task.attempts + 1,
        lease_token = ${leaseToken}::uuid,
        lease_expires_at = ${now} + ((least(task.timeout_ms, ${options.heartbeatLeaseMs}::int) + ${leaseMs}::float8) * interval '1 millisecond'),
        concurrency_slot = ${limited ? sql`chosen.concurrency_slot` : sql`null`},
        started_at = null,
        finished_at = null,
        updated_at = ${now}
      from ${chosen}
      where task.id = ${chosen}.id and task.status = 'initialized'
      returning ${sql.join(returning, sql`, `)}`,
    columns: returning.length,
    counts: limited
      ? sql`(select count(*) from candidates)::int - (select count(*) from claimed)::int as passed_over,
          (select count(*) from rate_waiting)::int as deferred`
      : null,
    rowsOf: (returned) =>
      inRunOrder(returned.map((row) => claimedRow(row, leaseToken, leaseMs, options.heartbeatLeaseMs))),
  };
}

/** Claim order: higher priority first, then earlier `run_at`, then enqueue order. */
export function inClaimOrder(a: SelectedRow, b: SelectedRow): number {
  return b.priority - a.priority || a.run_at - b.run_at || Number(a.id) - Number(b.id);
}

function inRunOrder(rows: SelectedRow[]): SelectedRow[] {
  return rows.sort(inClaimOrder);
}

/** How often a claim refused by a concurrent claim of the same sequence key is sent again. */
export const CLAIM_RETRIES = 3;

/**
 * Runs a claiming statement, sending it again when the database refused it for racing another
 * claim: a second running task of one sequence key (the unique index), or a deadlock between two
 * such claims. Nothing of a refused statement was written, and the next one, with a fresh
 * snapshot, sees the claim it raced and leaves that key alone. After {@link CLAIM_RETRIES} such
 * refusals in a row, `withoutClaim` runs instead: the claim is given up for now (a later one will
 * find those tasks), never the writes that ride with it.
 */
async function claimRacing<T>(run: () => Promise<T>, withoutClaim: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await run();
    } catch (error) {
      if (!lostClaimRace(error)) throw error;
      if (attempt >= CLAIM_RETRIES) return withoutClaim();
    }
  }
}

/**
 * Whether a storage error is a claim losing to a concurrent claim of the same sequence key or
 * concurrency slot: the database's error (somewhere down the `cause` chain: the drivers wrap it,
 * and so does drizzle) is a deadlock, or a unique violation of the index of running sequence keys
 * or of running tasks' slots.
 */
function lostClaimRace(error: unknown): boolean {
  let cause = (error as { cause?: unknown } | null)?.cause;
  for (let depth = 0; depth < 4 && typeof cause === 'object' && cause !== null; depth++) {
    const { code, message, constraint } = cause as {
      code?: unknown;
      message?: unknown;
      constraint?: unknown;
    };
    if (code === '40P01') return true;
    if (code === '23505')
      return /_(sequence|concurrency)_running_idx/.test(`${String(constraint)} ${String(message)}`);
    cause = (cause as { cause?: unknown }).cause;
  }
  return false;
}

const nothingClaimed = (): Claimed => ({ rows: [], passedOver: 0, deferred: 0 });

/** Claims up to `limit` due tasks, moving them `initialized` → `running` (transition "claim"). */
export async function claimTasks(context: StorageContext, options: ClaimOptions): Promise<Claimed> {
  if (options.limit <= 0 || options.keys.length === 0 || options.ids?.length === 0) return nothingClaimed();
  return claimRacing(
    async () => {
      const { ctes, update, columns, counts, rowsOf } = claimParts(context, options);
      if (!counts) {
        const returned = await queryRows<ClaimedColumns>(
          context.db,
          'claim',
          sql`with ${sql.join(ctes, sql`, `)} ${update}`,
        );
        return { rows: rowsOf(returned), passedOver: 0, deferred: 0 };
      }
      // One row per claimed task, and one more with the counts.
      const returned = await queryRows<ClaimedColumns & ClaimCounts>(
        context.db,
        'claim',
        sql`with ${sql.join([...ctes, sql`claimed as (${update})`], sql`, `)}
          select claimed.*, null::int as passed_over, null::int as deferred from claimed
          union all select ${sql.raw('null, '.repeat(columns))}${counts}`,
      );
      return claimedOf(returned, rowsOf);
    },
    async () => nothingClaimed(),
  );
}

/** The claimed rows and the counts of a statement that returned both ({@link ClaimParts}). */
function claimedOf(returned: (ClaimedColumns & ClaimCounts)[], rowsOf: ClaimParts['rowsOf']): Claimed {
  const counts = returned.find((row) => row.passed_over !== null);
  return {
    rows: rowsOf(returned.filter((row) => row.passed_over === null)),
    passedOver: Number(counts?.passed_over ?? 0),
    deferred: Number(counts?.deferred ?? 0),
  };
}

/** The writes of one batched statement, each optional. */
export interface Batch {
  /** Successes to write, each guarded by its lease ({@link completeTasks}). */
  successes: Success[];
  /** Starts of running attempts to record ({@link startsCte}). */
  starts: StartRecord[];
  /** A claim of due tasks riding along. */
  claim: ClaimOptions | undefined;
  /** Leases of running attempts to renew ({@link renewalUpdate}), read back with their cancel requests. */
  renewals?: Renewals;
}

/** The heartbeat of an invocation: its running attempts' leases, renewed to `leaseMs` from now. */
export interface Renewals {
  leases: LeaseRef[];
  leaseMs: number;
}

/** What one batched statement wrote: the leases of the successes and starts, and the rows claimed. */
export interface BatchResult {
  /** How each completed lease ended (a cancel requested meanwhile makes it `cancelled`). */
  completed: Map<string, Ending>;
  started: Set<string>;
  claimed: Claimed;
  /** Each renewed lease (those missing were lost), with its cancel's reason when one was requested. */
  renewed: Map<string, string | null>;
}

/**
 * {@link completeTasks}, start records, lease renewals and {@link claimTasks} in one statement,
 * saving round trips. The claim touches `initialized` rows, the others `running` ones, and the
 * batcher never puts one lease in two of them, so no row is written twice. A successor in a
 * sequence whose predecessor completes here is claimed by a later statement, as this one's
 * snapshot still sees the predecessor running.
 */
export async function writeBatch(context: StorageContext, batch: Batch): Promise<BatchResult> {
  const { successes, starts } = batch;
  const renewals = batch.renewals && batch.renewals.leases.length > 0 ? batch.renewals : undefined;
  const claim =
    batch.claim && batch.claim.limit > 0 && batch.claim.keys.length > 0 && batch.claim.ids?.length !== 0
      ? batch.claim
      : undefined;
  const none: BatchResult = {
    completed: new Map(),
    started: new Set(),
    claimed: nothingClaimed(),
    renewed: new Map(),
  };
  if (starts.length === 0 && !renewals && !claim) {
    return { ...none, completed: await completeTasks(context, successes) };
  }
  if (successes.length === 0 && starts.length === 0 && !renewals) {
    return { ...none, claimed: await claimTasks(context, claim!) };
  }
  // Each write's CTE, and how its rows are listed in the statement's last row.
  const writes: { cte: SQL; list: SQL }[] = [];
  if (successes.length > 0) {
    writes.push({ cte: completionCtes(context, successes), list: listOf('done', sql`ending`) });
  }
  // A statement that only records starts and renews leases need not wait for the WAL flush: were
  // it lost in a database crash, the starts would only read as not recorded, which costs no
  // attempt, and a renewal as not sent, which the next heartbeat sends again.
  const noFlush = successes.length === 0 && !claim;
  if (starts.length > 0) {
    writes.push({
      cte: sql`started as (${startsUpdate(context, starts, noFlush)})`,
      list: listOf('started'),
    });
  }
  if (renewals) {
    writes.push({
      cte: sql`renewed as (${renewalUpdate(context, renewals, noFlush && starts.length === 0)})`,
      list: listOf('renewed', sql`cancel_reason`),
    });
  }
  const lists = sql.join(
    writes.map(({ list }, index) => sql`${list} as ${sql.raw(`list_${index}`)}`),
    sql`, `,
  );
  const listNames = writes.map((_, index) => `list_${index}`);
  const run = async (withClaim: boolean): Promise<BatchResult> => {
    const parts = claim && withClaim ? claimParts(context, claim) : undefined;
    const ctes = writes.map(({ cte }) => cte);
    // With a claim: one row per claimed task, and one more, null but for the lists of writes (and
    // the claim's counts).
    const nulls = listNames.map((name) => `null as ${name}`);
    if (parts?.counts) nulls.push('null::int as passed_over', 'null::int as deferred');
    const statement = parts
      ? sql`with ${sql.join([...ctes, ...parts.ctes, sql`claimed as (${parts.update})`], sql`, `)}
          select claimed.*, ${sql.raw(nulls.join(', '))} from claimed
          union all select ${sql.raw('null, '.repeat(parts.columns))}${lists}${parts.counts ? sql`, ${parts.counts}` : sql``}`
      : sql`with ${sql.join(ctes, sql`, `)} select ${lists}`;
    const rows = await queryRows<ClaimedColumns & ClaimCounts & Record<string, string | null>>(
      context.db,
      noFlush && !parts ? 'record start' : 'complete and claim',
      statement,
    );
    const claimed: (ClaimedColumns & ClaimCounts)[] = [];
    let listed: (ClaimCounts & Record<string, string>) | undefined;
    for (const row of rows) {
      if (row.list_0 === null) claimed.push(row);
      else listed = row as ClaimCounts & Record<string, string>;
    }
    const written = writes.map(
      (_, index) => JSON.parse(listed?.[`list_${index}`] ?? '[]') as [string, string, string | null][],
    );
    let next = 0;
    const result: BatchResult = {
      ...none,
      claimed: parts
        ? {
            rows: parts.rowsOf(claimed),
            passedOver: Number(listed?.passed_over ?? 0),
            deferred: Number(listed?.deferred ?? 0),
          }
        : nothingClaimed(),
    };
    if (successes.length > 0) result.completed = new Map(keyed(written[next++]!) as [string, Ending][]);
    if (starts.length > 0) result.started = new Set(keyed(written[next++]!).map(([key]) => key));
    if (renewals) result.renewed = new Map(keyed(written[next++]!));
    return result;
  };
  return claim
    ? claimRacing(
        () => run(true),
        () => run(false),
      )
    : run(false);
}

/** A JSON list of `[id, lease token, extra]` of the rows a write CTE named `cte` returned. */
function listOf(cte: string, extra: SQL = sql`null`): SQL {
  return sql`(select coalesce(json_agg(json_build_array(id, lease_token, ${extra})), '[]') from ${sql.raw(cte)})::text`;
}

/** The `[leaseKey, extra]` pairs of a list of {@link listOf}. */
function keyed(list: [string, string, string | null][]): [string, string | null][] {
  return list.map(([id, leaseToken, extra]) => [leaseKey({ id: Number(id), leaseToken }), extra]);
}

/**
 * Renews the leases of running attempts to `leaseMs` from now, and reads back the cancel each may
 * have been asked for: `lease_expires_at` is indexed (the rescue's index), so this is a full update,
 * which is why a heartbeat renews at most once per interval, in one statement for all its attempts.
 */
function renewalUpdate(context: StorageContext, renewals: Renewals, noFlush: boolean): SQL {
  const flush = noFlush ? sql`, (select set_config('synchronous_commit', 'off', true)) as no_flush` : sql``;
  return sql`update ${tableOf(context)} as task
      set lease_expires_at = ${nowOf(context)} + ${millis(renewals.leaseMs)}
      from ${leaseRelation(renewals.leases)}${flush}
      where ${heldByLease(renewals.leases)}
      returning task.id::text as id, lease.lease_token::text as lease_token, task.cancel_reason`;
}

/** The start of a running attempt's handler, `agoMs` before the statement that records it. */
export interface StartRecord extends LeaseRef {
  agoMs: number;
}

/**
 * Records the starts of running attempts whose start is not recorded yet: `started_at` only,
 * which no index holds, so the row is updated in place (a HOT update). Returns the id and lease
 * token of each row written.
 */
function startsUpdate(context: StorageContext, starts: StartRecord[], noFlush: boolean): SQL {
  const flush = noFlush ? sql`, (select set_config('synchronous_commit', 'off', true)) as no_flush` : sql``;
  return sql`update ${tableOf(context)} as task
      set started_at = ${startTime(context, sql`lease.ago_ms`)}
      from ${leaseRelation(starts, (start) => start.agoMs)}${flush}
      where ${heldByLease(starts)}
        and task.started_at is null
      returning task.id::text as id, lease.lease_token::text as lease_token`;
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
  return sql`task.id = any(${arrayParam(ids, 'bigint')}) and task.lease_token = any(${arrayParam(tokens, 'uuid')})`;
}

/**
 * Which of the tasks a transaction's inserts claimed that transaction did commit, read right after
 * its COMMIT: the {@link leaseKey}s still held. A row the transaction did not in fact commit
 * (COMMIT after an error the caller caught rolls back without a word; so does a savepoint that
 * rolled back over the insert) matches nothing, and its task must not start.
 */
export async function confirmClaims(context: StorageContext, leases: LeaseRef[]): Promise<Set<string>> {
  if (leases.length === 0) return new Set();
  const rows = await queryRows<{ id: string; lease_token: string }>(
    context.db,
    'confirm',
    sql`select task.id::text as id, task.lease_token::text as lease_token from ${tableOf(context)} as task
      where ${leasesHeld(leases)} and task.status = 'running'`,
  );
  return new Set(rows.map((row) => leaseKey({ id: Number(row.id), leaseToken: row.lease_token })));
}
