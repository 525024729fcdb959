/**
 * The schedules' table (`<table>_schedules`): one row per schedule id, holding the newest slot
 * fired or passed over (`last_slot`) and whether an operator paused it.
 *
 * A firing round is one statement for all of a manager's schedules. It reads each row, fires the
 * offered slots after `last_slot` that are due by the database's clock, and moves `last_slot` to
 * the newest of them by compare-and-set: the update only applies while `last_slot` still holds the
 * value the statement read. Two instances firing at once both read the old value; the second's
 * update waits for the first's row lock, finds `last_slot` changed, updates nothing and so inserts
 * nothing. The unique index on a task's (schedule, slot) backs this up: a slot fired twice would
 * insert nothing the second time.
 *
 * A schedule seen for the first time, or whose task, cron or time zone changed, starts from the
 * database's now: no slot before it fires. Resuming a paused schedule does the same. When two
 * instances see a schedule first at once, the one whose insert lost learns nothing of the row this
 * round (its statement's snapshot predates it) and reads it in the next.
 * @module
 */
import { type SQL, sql } from 'drizzle-orm';
import type { CatchUp } from '../schedules.js';
import { clockOf, type NewTask, TASK_COLUMNS, taskPayload, taskValuesOf } from './insert.js';
import { jsonParam, millis, nowOf, queryRows, type StorageContext, tableOf } from './sql.js';

/** What a firing round tells the database of one schedule. */
export interface ScheduleOffer {
  id: string;
  taskKey: string;
  cron: string;
  timezone: string;
  catchUp: CatchUp;
  missedAfterMs: number;
  /** ISO times, oldest first: the slots that may have come due. */
  slots: string[];
  /** The task each fired slot enqueues. */
  task: NewTask;
}

/** The database's answer for one offered schedule. */
export interface ScheduleOutcome {
  id: string;
  /**
   * The newest slot (epoch ms) now fired or passed over; null for a row another instance wrote
   * while this round ran, which the next round reads.
   */
  lastSlot: number | null;
  /** `lastSlot` before this round (epoch ms), or null for a schedule first seen now. */
  previousSlot: number | null;
  paused: boolean;
  /** Tasks this round enqueued for it. */
  fired: number;
  /**
   * Whether another instance moved `last_slot` between this round's read and its compare-and-set,
   * so that the round fired nothing and knows nothing of the row; offered again, it fires the due
   * slots after the other's.
   */
  contended: boolean;
  /** The database's time of the round (epoch ms). */
  now: number;
}

/** A schedule's row, with the latest task it fired. */
export interface StoredSchedule {
  id: string;
  taskKey: string;
  cron: string;
  timezone: string;
  lastSlot: number;
  paused: boolean;
  updatedAt: number;
  lastTask: { id: number; status: string; scheduledFor: number; lastError: string | null } | null;
}

/** The schedule's identity a pause or a resume writes when its row does not exist yet. */
export interface ScheduleIdentity {
  id: string;
  taskKey: string;
  cron: string;
  timezone: string;
}

export function schedulesTableOf(context: StorageContext): SQL {
  return sql`${sql.identifier(`${context.table}_schedules`)}`;
}

const epochMs = (column: string) => sql.raw(`(extract(epoch from ${column}) * 1000)::float8`);

/** Fires the due slots of `offers` in one statement; returns one outcome per offer. */
export async function fireSchedules(
  context: StorageContext,
  offers: ScheduleOffer[],
): Promise<ScheduleOutcome[]> {
  if (offers.length === 0) return [];
  const schedules = schedulesTableOf(context);
  const input = offers.map(({ task, ...offer }) => ({ ...offer, task: taskPayload(task) }));
  const rows = await queryRows<{
    id: string;
    last_slot: number | null;
    previous_slot: number | null;
    paused: boolean;
    fired: number;
    contended: boolean;
    now_ms: number;
  }>(
    context.db,
    'fire schedules',
    sql`with input as materialized (
        select v->>'id' as id, v->>'taskKey' as task_key, v->>'cron' as cron, v->>'timezone' as timezone,
          v->>'catchUp' as catch_up, (v->>'missedAfterMs')::float8 as missed_after_ms, v->'task' as task,
          v->'slots' as slots
        from jsonb_array_elements(${jsonParam(input)}) as v),
      clock as materialized (select ${nowOf(context)} as now),
      current_rows as materialized (
        select s.id, s.task_key, s.cron, s.timezone, s.last_slot, s.paused
        from ${schedules} s where s.id in (select id from input)),
      seen as (
        insert into ${schedules} (id, task_key, cron, timezone, last_slot, created_at, updated_at)
        select i.id, i.task_key, i.cron, i.timezone, clock.now, clock.now, clock.now from input i, clock
        where not exists (select 1 from current_rows c where c.id = i.id)
        order by i.id
        on conflict (id) do nothing
        returning id),
      changed as (
        update ${schedules} s set task_key = i.task_key, cron = i.cron, timezone = i.timezone,
          last_slot = greatest(s.last_slot, clock.now), updated_at = clock.now
        from input i join current_rows c on c.id = i.id, clock
        where s.id = i.id and (c.task_key, c.cron, c.timezone) is distinct from (i.task_key, i.cron, i.timezone)
        returning s.id, s.last_slot),
      due as materialized (
        select i.id, i.catch_up, i.missed_after_ms, i.task, slot.value::timestamptz as slot
        from input i
        join current_rows c on c.id = i.id
          and (c.task_key, c.cron, c.timezone) = (i.task_key, i.cron, i.timezone) and not c.paused
        cross join lateral jsonb_array_elements_text(i.slots) as slot(value), clock
        where slot.value::timestamptz > c.last_slot and slot.value::timestamptz <= clock.now),
      newest as materialized (select id, max(slot) as slot from due group by id),
      moved as (
        update ${schedules} s set last_slot = n.slot, updated_at = clock.now
        from newest n join current_rows c on c.id = n.id, clock
        where s.id = n.id and s.last_slot = c.last_slot and not s.paused
        returning s.id, s.last_slot),
      fire as materialized (
        select d.id, d.slot, d.task || jsonb_build_object('scheduleId', d.id, 'scheduledFor', d.slot) as task
        from due d join newest n on n.id = d.id join moved m on m.id = d.id, clock
        where d.catch_up = 'all'
          or (d.slot = n.slot and (d.catch_up = 'latest' or d.slot >= clock.now - ${millis(1)} * d.missed_after_ms))),
      inserted as (
        insert into ${tableOf(context)} as task (${TASK_COLUMNS})
        select ${taskValuesOf(sql`f.task`)} from fire f, ${clockOf(context)}
        order by f.id, f.slot
        on conflict do nothing
        returning task.schedule_id)
      select i.id,
        ${epochMs('coalesce(m.last_slot, x.last_slot, c.last_slot, case when sn.id is not null then clock.now end)')} as last_slot,
        ${epochMs('c.last_slot')} as previous_slot,
        coalesce(c.paused, false) as paused,
        (select count(*) from inserted where inserted.schedule_id = i.id)::int as fired,
        (m.id is null and exists (select 1 from newest n where n.id = i.id)) as contended,
        ${epochMs('clock.now')} as now_ms
      from input i cross join clock
      left join current_rows c on c.id = i.id
      left join moved m on m.id = i.id
      left join changed x on x.id = i.id
      left join seen sn on sn.id = i.id`,
  );
  return rows.map((row) => ({
    id: row.id,
    lastSlot: row.last_slot === null ? null : Number(row.last_slot),
    previousSlot: row.previous_slot === null ? null : Number(row.previous_slot),
    paused: Boolean(row.paused),
    fired: Number(row.fired),
    contended: Boolean(row.contended),
    now: Number(row.now_ms),
  }));
}

/** Every schedule's row, by id, with the latest task it fired (kept or not yet cleaned up). */
export async function listSchedules(context: StorageContext): Promise<StoredSchedule[]> {
  const rows = await queryRows<{
    id: string;
    task_key: string;
    cron: string;
    timezone: string;
    last_slot: number;
    paused: boolean;
    updated_at: number;
    task_id: string | null;
    task_status: string | null;
    scheduled_for: number | null;
    last_error: string | null;
  }>(
    context.db,
    'list schedules',
    sql`select s.id, s.task_key, s.cron, s.timezone, ${epochMs('s.last_slot')} as last_slot, s.paused,
        ${epochMs('s.updated_at')} as updated_at, latest.id::text as task_id, latest.status as task_status,
        ${epochMs('latest.scheduled_for')} as scheduled_for, latest.last_error
      from ${schedulesTableOf(context)} s
      left join lateral (
        select * from (
          (select t.id, t.status, t.scheduled_for, t.last_error from ${tableOf(context)} t
            where t.schedule_id = s.id and t.scheduled_for is not null order by t.scheduled_for desc limit 1)
          union all
          (select t.id, t.status, t.created_at, t.last_error from ${tableOf(context)} t
            where t.schedule_id = s.id and t.scheduled_for is null order by t.id desc limit 1)) newest
        order by scheduled_for desc limit 1) latest on true
      order by s.id`,
  );
  return rows.map((row) => ({
    id: row.id,
    taskKey: row.task_key,
    cron: row.cron,
    timezone: row.timezone,
    lastSlot: Number(row.last_slot),
    paused: Boolean(row.paused),
    updatedAt: Number(row.updated_at),
    lastTask:
      row.task_id === null
        ? null
        : {
            id: Number(row.task_id),
            status: row.task_status!,
            scheduledFor: Number(row.scheduled_for),
            lastError: row.last_error,
          },
  }));
}

/**
 * Pauses or resumes a schedule for every instance; a schedule never fired yet gets its row now.
 * Resuming starts it from now: the slots that passed while it was paused do not fire.
 */
export async function setSchedulePaused(
  context: StorageContext,
  schedule: ScheduleIdentity,
  paused: boolean,
): Promise<void> {
  const now = nowOf(context);
  await queryRows(
    context.db,
    paused ? 'pause schedule' : 'resume schedule',
    sql`insert into ${schedulesTableOf(context)} as s
        (id, task_key, cron, timezone, last_slot, paused, created_at, updated_at)
      values (${schedule.id}, ${schedule.taskKey}, ${schedule.cron}, ${schedule.timezone}, ${now}, ${paused}, ${now}, ${now})
      on conflict (id) do update set paused = excluded.paused, updated_at = excluded.updated_at,
        last_slot = case when s.paused and not excluded.paused then greatest(s.last_slot, excluded.last_slot)
          else s.last_slot end
      returning s.id`,
  );
}
