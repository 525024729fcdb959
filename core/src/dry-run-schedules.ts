/**
 * The schedules' rows of a dry run's memory table, with the firing rules of the database's
 * statement (`storage/schedules.ts`): a slot fires when it is after the row's `last_slot` and due
 * by the clock, and `last_slot` moves to the newest such slot. A memory table runs one operation
 * at a time, so the compare-and-set always holds.
 * @module
 */
import type {
  NewTask,
  ScheduleIdentity,
  ScheduleOffer,
  ScheduleOutcome,
  SelectedRow,
  StoredSchedule,
} from './storage/index.js';
import { slotOf } from './storage/index.js';

interface MemorySchedule extends ScheduleIdentity {
  lastSlot: number;
  paused: boolean;
  updatedAt: number;
}

export class MemorySchedules {
  readonly #rows = new Map<string, MemorySchedule>();

  /**
   * Fires the due slots of `offers` at `now`; `insert` writes the fired tasks (each with its
   * schedule and slot) and returns how many it wrote.
   */
  fire(offers: ScheduleOffer[], now: number, insert: (tasks: NewTask[]) => number): ScheduleOutcome[] {
    return offers.map((offer) => {
      const row = this.#rows.get(offer.id);
      if (!row) {
        this.#rows.set(offer.id, { ...identityOf(offer), lastSlot: now, paused: false, updatedAt: now });
        return {
          id: offer.id,
          lastSlot: now,
          previousSlot: null,
          paused: false,
          fired: 0,
          contended: false,
          now,
        };
      }
      const outcome = {
        id: offer.id,
        previousSlot: row.lastSlot,
        paused: row.paused,
        fired: 0,
        contended: false,
        now,
      };
      if (!sameIdentity(row, offer)) {
        Object.assign(row, identityOf(offer), { lastSlot: Math.max(row.lastSlot, now), updatedAt: now });
        return { ...outcome, lastSlot: row.lastSlot };
      }
      const due = offer.slots.map(Date.parse).filter((slot) => slot > row.lastSlot && slot <= now);
      if (row.paused || due.length === 0) return { ...outcome, lastSlot: row.lastSlot };
      const newest = Math.max(...due);
      const fired = due.filter(
        (slot) =>
          offer.catchUp === 'all' ||
          (slot === newest && (offer.catchUp === 'latest' || slot >= now - offer.missedAfterMs)),
      );
      row.lastSlot = newest;
      row.updatedAt = now;
      const tasks = fired.map((slot) => ({
        ...offer.task,
        scheduleId: offer.id,
        scheduledFor: new Date(slot).toISOString(),
      }));
      return { ...outcome, lastSlot: newest, fired: insert(tasks) };
    });
  }

  /** Every row by id, with the latest task of each among `tasks`. */
  list(tasks: Iterable<SelectedRow>): StoredSchedule[] {
    const latest = new Map<string, SelectedRow>();
    for (const task of tasks) {
      if (task.schedule_id === null) continue;
      const known = latest.get(task.schedule_id);
      if (!known || slotOf(known)! < slotOf(task)!) latest.set(task.schedule_id, task);
    }
    return [...this.#rows.values()]
      .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
      .map((row) => {
        const task = latest.get(row.id);
        return {
          id: row.id,
          taskKey: row.taskKey,
          cron: row.cron,
          timezone: row.timezone,
          lastSlot: row.lastSlot,
          paused: row.paused,
          updatedAt: row.updatedAt,
          lastTask: task
            ? {
                id: Number(task.id),
                status: task.status,
                scheduledFor: slotOf(task)!,
                lastError: task.last_error,
              }
            : null,
        };
      });
  }

  setPaused(schedule: ScheduleIdentity, paused: boolean, now: number): void {
    const row = this.#rows.get(schedule.id);
    if (!row) {
      this.#rows.set(schedule.id, { ...identityOf(schedule), lastSlot: now, paused, updatedAt: now });
      return;
    }
    if (row.paused && !paused) row.lastSlot = Math.max(row.lastSlot, now);
    row.paused = paused;
    row.updatedAt = now;
  }
}

function identityOf(schedule: ScheduleIdentity): ScheduleIdentity {
  const { id, taskKey, cron, timezone } = schedule;
  return { id, taskKey, cron, timezone };
}

function sameIdentity(a: ScheduleIdentity, b: ScheduleIdentity): boolean {
  return a.taskKey === b.taskKey && a.cron === b.cron && a.timezone === b.timezone;
}
