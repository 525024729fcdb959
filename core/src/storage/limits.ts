/**
 * Group limits in a claim: concurrency limits (at most n tasks of a group `running`) and rate
 * limits (at most n starts of a group in any window of a period), held by the database for every
 * instance and invocation at once.
 *
 * - A running task of a concurrency group holds one of its group's slots (`concurrency_slot`, 0 to
 *   limit - 1), and a unique index on the running tasks' slots refuses a second holder. A claim
 *   gives its candidates the slots its snapshot sees free; one that raced another claim for a slot
 *   is refused and sent again, as for sequence keys. Ending `running` in any way frees the slot.
 * - A rate-limited group has slots too, rows of `<table>_rate_slots` each free again at
 *   `free_at`. A start takes a slot whose `free_at` has passed and sets it one period ahead, in an
 *   upsert whose condition the database checks again on the row it locked, so two claims never take
 *   one slot; as a slot is taken at most once per period, no window of a period holds more starts
 *   than the group has slots. A candidate left without a slot waits `initialized` until the
 *   group's first slot frees (its `run_at` moves there), out of the way of other due tasks.
 *
 * The limits are the claiming instance's definitions'; a task's groups were computed at enqueue.
 * @module
 */
import { type SQL, sql } from 'drizzle-orm';
import { jsonParam, nowOf, queryRows, type StorageContext, statementNowOf, tableOf } from './sql.js';

/** The limits of the tasks a claim may start, by task key. */
export interface GroupLimits {
  concurrency: { key: string; limit: number }[];
  rate: { key: string; limit: number; periodMs: number }[];
}

/** The CTEs that apply group limits to a claim's candidates, and what the claim reads of them. */
export interface LimitedClaim {
  /** The columns the candidates CTE selects besides `id`. */
  candidateColumns: SQL;
  /** A condition on `candidate`: its concurrency group, as the snapshot sees it, is not full. */
  groupHasRoom: SQL;
  /** CTEs to put before the candidates CTE. */
  before: SQL[];
  /** CTEs to put after it, ending with `chosen (id, concurrency_slot)`: the candidates to start. */
  after: SQL[];
}

/** The limits among `limits` that apply to tasks of `keys`, or null when none does. */
export function limitsFor(limits: GroupLimits | undefined, keys: readonly string[]): GroupLimits | null {
  if (!limits) return null;
  const claimable = new Set(keys);
  const concurrency = limits.concurrency.filter((entry) => claimable.has(entry.key));
  const rate = limits.rate.filter((entry) => claimable.has(entry.key));
  return concurrency.length > 0 || rate.length > 0 ? { concurrency, rate } : null;
}

export function rateSlotsOf(context: StorageContext): SQL {
  return sql`${sql.identifier(`${context.table}_rate_slots`)}`;
}

/**
 * Deletes up to `limit` rate slots free for a minute or more: such a slot reads as a slot never
 * taken, so a group keyed per tenant or per account does not leave a row per slot behind forever.
 */
export async function cleanRateSlots(context: StorageContext, limit: number): Promise<number> {
  const rateSlots = rateSlotsOf(context);
  const rows = await queryRows(
    context.db,
    'cleanup of rate slots',
    sql`delete from ${rateSlots} as taken
      where (taken.task_key, taken.rate_key, taken.slot) in (
        select old.task_key, old.rate_key, old.slot from ${rateSlots} as old
        where old.free_at < ${nowOf(context)} - interval '1 minute'
        limit ${limit}::int for update skip locked)
      returning taken.slot`,
  );
  return rows.length;
}

/**
 * The group-limit part of a claim of at most `claimLimit` tasks, `rateLimitedMax` of them
 * rate-limited. Candidates are ranked within each group in claim order and matched with the
 * group's free slots by rank: the first k candidates of a group with k free slots may start.
 * Concurrency comes first, so a task that may not start for its concurrency group takes no rate
 * slot. Rate-limited candidates beyond `rateLimitedMax` are left as they are, due.
 */
export function limitedClaim(
  context: StorageContext,
  limits: GroupLimits,
  claimLimit: number,
  rateLimitedMax: number,
): LimitedClaim {
  const table = tableOf(context);
  const rateSlots = rateSlotsOf(context);
  // Rate slots count from the moment each is written, not from the start of the claim's
  // transaction (`now()`), which may have begun long before, with writes that waited for locks:
  // a slot dated back that far would free again less than a period before its task starts.
  const slotNow = statementNowOf(context);
  const takeable = Math.min(claimLimit, rateLimitedMax);
  const inClaimOrder = sql`order by c.priority desc, c.run_at, c.id`;
  return {
    candidateColumns: sql`, candidate.task_key, candidate.concurrency_key, candidate.rate_key, candidate.priority, candidate.run_at`,
    // Against the full groups, read once: a check per candidate row would run for every due row
    // the candidates' scan visits, which on a table without statistics is all of them.
    // A rate group whose every slot is taken is skipped the same way: its tasks, left due, would
    // otherwise fill every claim's candidates while they wait, ahead of everything else.
    groupHasRoom: sql`(candidate.concurrency_key is null
        or (candidate.task_key, candidate.concurrency_key) not in (
          select full_group.task_key, full_group.concurrency_key from full_groups as full_group))
      and (candidate.rate_key is null
        or (candidate.task_key, candidate.rate_key) not in (
          select spent.task_key, spent.rate_key from spent_rate_groups as spent))`,
    before: [
      sql`concurrency_caps as materialized (
        select cap.key as task_key, cap."limit" as max_running
        from jsonb_to_recordset(${jsonParam(limits.concurrency)}) as cap(key text, "limit" int))`,
      sql`full_groups as materialized (
        select holder.task_key::text as task_key, holder.concurrency_key
        from ${table} as holder join concurrency_caps as cap on cap.task_key = holder.task_key
        where holder.concurrency_slot is not null and holder.status = 'running'
        group by holder.task_key, holder.concurrency_key, cap.max_running
        having count(*) >= cap.max_running)`,
      sql`rate_caps as materialized (
        select cap.key as task_key, cap."limit" as max_starts, cap."periodMs" as period_ms
        from jsonb_to_recordset(${jsonParam(limits.rate)}) as cap(key text, "limit" int, "periodMs" float8))`,
      sql`spent_rate_groups as materialized (
        select taken.task_key::text as task_key, taken.rate_key
        from ${rateSlots} as taken join rate_caps as cap on cap.task_key = taken.task_key
        where taken.slot < cap.max_starts and taken.free_at > ${slotNow}
        group by taken.task_key, taken.rate_key, cap.max_starts
        having count(*) >= cap.max_starts)`,
    ],
    after: [
      // Concurrency: each limited candidate's rank in its group, and each group's free slots.
      sql`concurrency_ranked as materialized (
        select c.id, c.task_key, c.concurrency_key,
          row_number() over (partition by c.task_key, c.concurrency_key ${inClaimOrder}) as rank
        from candidates as c join concurrency_caps as cap on cap.task_key = c.task_key
        where c.concurrency_key is not null)`,
      sql`concurrency_free as materialized (
        select g.task_key, g.concurrency_key, free.slot,
          row_number() over (partition by g.task_key, g.concurrency_key order by free.slot) as rank
        from (select distinct r.task_key, r.concurrency_key, cap.max_running
              from concurrency_ranked as r join concurrency_caps as cap on cap.task_key = r.task_key) as g
        cross join lateral (
          select s.slot from generate_series(0, g.max_running - 1) as s(slot)
          where not exists (
            select 1 from ${table} as holder
            where holder.task_key = g.task_key and holder.concurrency_key = g.concurrency_key
              and holder.concurrency_slot = s.slot and holder.status = 'running')
          order by s.slot
          -- The room left, not only the free slots: after a limit was lowered, tasks may still
          -- hold slots beyond it.
          limit greatest(0, least(${claimLimit}::int, g.max_running - (
            select count(*) from ${table} as holder
            where holder.task_key = g.task_key and holder.concurrency_key = g.concurrency_key
              and holder.concurrency_slot is not null and holder.status = 'running')))) as free)`,
      // The candidates that may start for their concurrency group, with the slot each takes.
      sql`concurrency_assigned as materialized (
        select r.id, f.slot from concurrency_ranked as r
        join concurrency_free as f
          on f.task_key = r.task_key and f.concurrency_key = r.concurrency_key and f.rank = r.rank)`,
      sql`concurrency_held as materialized (
        select c.id, c.task_key, c.rate_key, c.priority, c.run_at, a.slot as concurrency_slot
        from candidates as c left join concurrency_assigned as a on a.id = c.id
        where a.id is not null or c.id not in (select r.id from concurrency_ranked as r))`,
      // Rate: the same ranking among those, and the slots the snapshot sees free.
      sql`rate_ranked as materialized (
        select c.id, c.task_key, c.rate_key, cap.period_ms,
          row_number() over (partition by c.task_key, c.rate_key ${inClaimOrder}) as rank,
          row_number() over (${inClaimOrder}) as overall
        from concurrency_held as c join rate_caps as cap on cap.task_key = c.task_key
        where c.rate_key is not null)`,
      sql`rate_free as materialized (
        select g.task_key, g.rate_key, free.slot,
          row_number() over (partition by g.task_key, g.rate_key order by free.slot) as rank
        from (select distinct r.task_key, r.rate_key, cap.max_starts
              from rate_ranked as r join rate_caps as cap on cap.task_key = r.task_key) as g
        -- The slots free longest (by their free_at index), then slots never taken yet, above the
        -- highest one taken: a walk over the busy slots would cost a claim the group's whole limit.
        cross join lateral (
          (select taken.slot from ${rateSlots} as taken
            where taken.task_key = g.task_key and taken.rate_key = g.rate_key
              and taken.free_at <= ${slotNow} and taken.slot < g.max_starts
            order by taken.free_at limit ${takeable}::int)
          union all
          (select s.slot from generate_series(
              coalesce((select max(highest.slot) + 1 from ${rateSlots} as highest
                        where highest.task_key = g.task_key and highest.rate_key = g.rate_key), 0),
              g.max_starts - 1) as s(slot)
            limit ${takeable}::int)) as free)`,
      // Taking a slot: a slot another claim took meanwhile fails the condition, read again on the
      // locked row, and returns nothing.
      sql`rate_won as (
        insert into ${rateSlots} as taken (task_key, rate_key, slot, free_at, task_id)
        select r.task_key, r.rate_key, f.slot, ${slotNow} + r.period_ms * interval '1 millisecond', r.id
        from rate_ranked as r
        join rate_free as f on f.task_key = r.task_key and f.rate_key = r.rate_key and f.rank = r.rank
        where r.overall <= ${rateLimitedMax}::int
        order by r.task_key, r.rate_key, f.slot
        on conflict (task_key, rate_key, slot) do update
          set free_at = excluded.free_at, task_id = excluded.task_id
          where taken.free_at <= ${slotNow}
        returning taken.task_id)`,
      // A candidate over its rate waits until its group's first slot frees: a slot the snapshot
      // sees taken, or one taken in this very statement (free a period from now).
      sql`rate_waiting as (
        update ${table} as task set
          run_at = greatest(task.run_at, least(
            ${slotNow} + r.period_ms * interval '1 millisecond',
            (select min(taken.free_at) from ${rateSlots} as taken
             join rate_caps as cap on cap.task_key = taken.task_key
             where taken.task_key = r.task_key and taken.rate_key = r.rate_key
               and taken.slot < cap.max_starts and taken.free_at > ${slotNow}))),
          updated_at = ${slotNow}
        from rate_ranked as r
        where task.id = r.id and r.overall <= ${rateLimitedMax}::int
          and r.id not in (select won.task_id from rate_won as won)
        returning task.id)`,
      sql`chosen as materialized (
        select h.id, h.concurrency_slot from concurrency_held as h
        where not exists (select 1 from rate_ranked as r where r.id = h.id)
        union all
        select h.id, h.concurrency_slot from concurrency_held as h
        where h.id in (select won.task_id from rate_won as won))`,
    ],
  };
}
