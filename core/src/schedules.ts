/**
 * Recurring tasks defined in code (SPEC §12). A schedule names a task, a cron expression and a
 * time zone; each tick offers the database the slots that came due since the last one it knows of,
 * and one statement per round fires, for every schedule at once, the slots no instance fired yet
 * (see `storage/schedules.ts`). Nothing here keeps time: a schedule is honoured to the granularity
 * of the ticks that look at it.
 *
 * Cron expressions and time zones (daylight saving included) are croner's: five fields, or six
 * with seconds first, and the nicknames (`@daily`, …).
 * @module
 */
import { Cron } from 'croner';
import { describeThrown, ERROR_CODES, errorCauses, GtaError } from './errors.js';
import { clockNow, type ResolvedOptions } from './options.js';
import { prepareTask, type TaskRef, type TaskRegistry } from './prepare.js';
import { unstorableText } from './serialize.js';
import type { NewTask, ScheduleOffer, ScheduleOutcome, StoredSchedule, TaskStore } from './storage/index.js';
import type { TaskDefinition } from './task.js';

/**
 * What happens to slots that passed while no tick looked (downtime, a paused platform cron):
 * `'latest'` fires the newest of them, `'all'` every one (the newest `maxCatchUp`), `'none'` only
 * a slot that a tick sees within `missedAfterMs` of its time.
 */
export type CatchUp = 'latest' | 'all' | 'none';

/** A recurring task (SPEC §12). */
export interface ScheduleDefinition<T extends TaskRef = TaskRef> {
  /** Unique among the manager's schedules, 1–255 characters; the firing record is kept under it. */
  id: string;
  /** The task to enqueue at each slot: its definition, or the key of a registered one. */
  task: T;
  /** Five fields (minute first) or six (seconds first), or a nickname such as `@hourly`. */
  cron: string;
  /**
   * The IANA time zone the cron expression reads in, daylight saving included.
   * @defaultValue 'UTC'
   */
  timezone?: string;
  /** The argument of every task it fires (checked against the task's schema when it fires). @defaultValue null */
  arg?: T extends TaskDefinition<any, any, infer Input> ? Input : unknown;
  /** @defaultValue 'latest' */
  catchUp?: CatchUp;
  /**
   * With `catchUp: 'all'`, the most missed slots one firing enqueues; older ones are dropped and
   * the count logged.
   * @defaultValue 100
   */
  maxCatchUp?: number;
  /**
   * With `catchUp: 'none'`, how late a tick may see a slot and still fire it.
   * @defaultValue 60000
   */
  missedAfterMs?: number;
  /** The fired tasks' priority (see `EnqueueOptions.priority`). */
  priority?: number;
}

export const DEFAULT_MAX_CATCH_UP = 100;
export const MAX_CATCH_UP_LIMIT = 1000;
export const DEFAULT_MISSED_AFTER_MS = 60_000;
export const MAX_SCHEDULE_ID_LENGTH = 255;
/**
 * How soon a runner offers again a slot that came due but that its last round did not settle (the
 * statement failed, or the database's clock had not reached the slot yet).
 */
export const SCHEDULE_RETRY_MS = 250;
/**
 * How many times a round offers again, at once, the schedules whose compare-and-set it lost: the
 * winner settled up to its own clock, and the slots after it that this round saw due are still to
 * fire (under `'latest'` the next round would fire only the newest).
 */
const CONTENDED_RETRIES = 3;
/** Older slots a catch-up counts, at most, to report how many it dropped. */
const DROPPED_COUNT_LIMIT = 100_000;
const CATCH_UP_MODES: readonly CatchUp[] = ['latest', 'all', 'none'];

/** A schedule as the manager keeps it: validated, with the newest slot it knows to be settled. */
export interface Schedule {
  readonly id: string;
  readonly definition: TaskDefinition<any, any, any>;
  readonly cron: string;
  readonly timezone: string;
  readonly arg: unknown;
  readonly catchUp: CatchUp;
  readonly maxCatchUp: number;
  readonly missedAfterMs: number;
  readonly priority: number | undefined;
  readonly pattern: Cron;
  /**
   * The newest slot (epoch ms) this manager knows was fired or passed over, from the database's
   * answer to its last firing; null before its first. Slots after it are offered again.
   */
  cursor: number | null;
}

function invalid(id: unknown, message: string): GtaError {
  return new GtaError(ERROR_CODES.invalidOption, `schedule ${JSON.stringify(id)}: ${message}`);
}

/** A cron pattern in `timezone`, or the typed error saying what is wrong with either. */
function patternOf(id: string, cron: unknown, timezone: string): Cron {
  if (typeof cron !== 'string' || cron.trim() === '') throw invalid(id, 'cron must be a non-empty string');
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: timezone });
  } catch {
    throw invalid(
      id,
      `unknown time zone ${JSON.stringify(timezone)}; use an IANA name such as 'Europe/Paris'`,
    );
  }
  let pattern: Cron;
  try {
    pattern = new Cron(cron, { timezone, paused: true });
  } catch (error) {
    throw invalid(id, `invalid cron expression ${JSON.stringify(cron)}: ${describeThrown(error)}`);
  }
  if (pattern.nextRun() === null) throw invalid(id, `cron expression ${JSON.stringify(cron)} never fires`);
  return pattern;
}

function wholeNumber(id: string, name: string, value: unknown, min: number, max: number): number {
  if (!Number.isInteger(value) || (value as number) < min || (value as number) > max) {
    throw invalid(id, `${name} must be a whole number from ${min} to ${max}, got ${String(value)}`);
  }
  return value as number;
}

/** Validates a schedule definition against the registered tasks; throws `GTA_INVALID_OPTION`. */
export function makeSchedule(input: ScheduleDefinition, registry: TaskRegistry): Schedule {
  if (typeof input !== 'object' || input === null) throw invalid(input, 'a schedule is an object');
  const { id } = input;
  if (typeof id !== 'string' || id.length === 0 || id.length > MAX_SCHEDULE_ID_LENGTH) {
    throw invalid(id, `id must be a string of 1 to ${MAX_SCHEDULE_ID_LENGTH} characters`);
  }
  const unstorable = unstorableText(id);
  if (unstorable) throw invalid(id, `id cannot be stored: ${unstorable}`);
  const timezone = input.timezone ?? 'UTC';
  if (typeof timezone !== 'string') throw invalid(id, 'timezone must be a string');
  const catchUp = input.catchUp ?? 'latest';
  if (!CATCH_UP_MODES.includes(catchUp)) {
    throw invalid(id, `catchUp must be one of ${CATCH_UP_MODES.join(', ')}, got ${String(catchUp)}`);
  }
  let definition: TaskDefinition<any, any, any>;
  try {
    definition = registry.resolve(input.task);
  } catch (error) {
    throw invalid(id, describeThrown(error));
  }
  const priority = input.priority;
  if (priority !== undefined) wholeNumber(id, 'priority', priority, -(2 ** 31), 2 ** 31 - 1);
  return {
    id,
    definition,
    cron: input.cron,
    timezone,
    arg: input.arg === undefined ? null : input.arg,
    catchUp,
    maxCatchUp: wholeNumber(
      id,
      'maxCatchUp',
      input.maxCatchUp ?? DEFAULT_MAX_CATCH_UP,
      1,
      MAX_CATCH_UP_LIMIT,
    ),
    missedAfterMs: wholeNumber(
      id,
      'missedAfterMs',
      input.missedAfterMs ?? DEFAULT_MISSED_AFTER_MS,
      1,
      7 * 24 * 3600 * 1000,
    ),
    priority,
    pattern: patternOf(id, input.cron, timezone),
    cursor: null,
  };
}

/**
 * The slots of `schedule` to offer at `now`, oldest first: those after its cursor and not after
 * `now`, as many as a firing may enqueue (`maxCatchUp` for `'all'`, else the newest two, so that
 * the newest one due by the database's clock is among them when that clock is a little behind).
 * Before the first firing the cursor is unknown and the newest slots are offered.
 */
export function slotsToOffer(schedule: Schedule, now: number): Date[] {
  const { cursor, pattern } = schedule;
  if (cursor !== null) {
    const next = pattern.nextRun(new Date(cursor));
    if (next === null || next.getTime() > now) return [];
  }
  const wanted = schedule.catchUp === 'all' ? schedule.maxCatchUp : 2;
  // croner's previous runs are those before its reference: one millisecond on includes `now`.
  // Before 1970 is no slot: croner reads a year field, and Postgres refuses year 0 and before.
  return pattern
    .previousRuns(wanted, new Date(now + 1))
    .filter((slot) => slot.getTime() >= 0 && (cursor === null || slot.getTime() > cursor))
    .reverse();
}

/** The slots of `schedule` after `after` and before `before`, counted up to a bound. */
function slotsBetween(schedule: Schedule, after: number, before: number): number {
  let count = 0;
  for (const slot of schedule.pattern.enumerate(new Date(after))) {
    if (slot.getTime() >= before || count >= DROPPED_COUNT_LIMIT) break;
    count++;
  }
  return count;
}

/** A schedule with what a round offers the database of it. */
interface Offered {
  schedule: Schedule;
  offer: ScheduleOffer;
}

/**
 * The schedules of one manager, and the firing round each tick runs.
 *
 * Slots come due by the database's clock, which fires them; the book offers them by its own clock
 * moved by how far ahead the database's clock was at the last round, so that an instance whose
 * clock runs ahead of (or behind) the database's still offers the slots the database finds due.
 */
export class ScheduleBook {
  readonly #schedules = new Map<string, Schedule>();
  /** The database's clock minus the manager's at the last round (ms). */
  #databaseAhead = 0;

  constructor(readonly registry: TaskRegistry) {}

  /** Adds a schedule; one with the same id is refused. */
  add(input: ScheduleDefinition): Schedule {
    const schedule = makeSchedule(input, this.registry);
    if (this.#schedules.has(schedule.id))
      throw invalid(schedule.id, 'a schedule with this id is already defined');
    this.#schedules.set(schedule.id, schedule);
    return schedule;
  }

  get(id: string): Schedule | undefined {
    return this.#schedules.get(id);
  }

  all(): Schedule[] {
    return [...this.#schedules.values()];
  }

  /** The first slot of `schedule` that it has not settled, epoch ms (-Infinity before its first round). */
  #unsettled(schedule: Schedule): number {
    if (schedule.cursor === null) return Number.NEGATIVE_INFINITY;
    return schedule.pattern.nextRun(new Date(schedule.cursor))?.getTime() ?? Number.POSITIVE_INFINITY;
  }

  /**
   * Whether a round at `now` (the manager's clock) is worth running, the last having run at
   * `lastRound`: a slot came due since, or one due before is still unsettled and
   * {@link SCHEDULE_RETRY_MS} has passed.
   */
  roundWanted(lastRound: number, now: number): boolean {
    const at = now + this.#databaseAhead;
    const lastAt = lastRound + this.#databaseAhead;
    for (const schedule of this.#schedules.values()) {
      const next = this.#unsettled(schedule);
      if (next <= at && (next > lastAt || now - lastRound >= SCHEDULE_RETRY_MS)) return true;
    }
    return false;
  }

  /**
   * Milliseconds from `now` (the manager's clock) to the next round worth running: to the next slot
   * of any schedule, or {@link SCHEDULE_RETRY_MS} while one is due and unsettled (Infinity without
   * schedules).
   */
  msToNextRound(now: number): number {
    const at = now + this.#databaseAhead;
    let soonest = Number.POSITIVE_INFINITY;
    for (const schedule of this.#schedules.values()) {
      const next = this.#unsettled(schedule);
      if (next <= at) return SCHEDULE_RETRY_MS;
      soonest = Math.min(soonest, next - at);
    }
    return soonest;
  }

  /** The task a firing of `schedule` writes (its slot is added by the firing statement). */
  prepare(schedule: Schedule, options: ResolvedOptions): Promise<NewTask> {
    const enqueueOptions = schedule.priority === undefined ? {} : { priority: schedule.priority };
    return prepareTask(schedule.definition, schedule.arg, enqueueOptions, options, {
      label: `argument of schedule ${schedule.id}`,
    });
  }

  /**
   * One firing round at `now` (the manager's clock): offers every schedule's due slots in one
   * statement and returns how many tasks it enqueued. A schedule whose argument its task refuses
   * is logged and fires nothing; a failed statement is logged and fires nothing this round. Never
   * throws, so that a tick goes on to claim.
   */
  async fire(store: TaskStore, options: ResolvedOptions, now: number): Promise<number> {
    const at = now + this.#databaseAhead;
    const offers: Offered[] = [];
    for (const schedule of this.#schedules.values()) {
      const slots = slotsToOffer(schedule, at);
      if (slots.length === 0 && schedule.cursor !== null) continue;
      let task: NewTask;
      try {
        task = await this.prepare(schedule, options);
      } catch (error) {
        options.logger.error(
          { scheduleId: schedule.id, error: describeThrown(error) },
          'schedule not fired: its task refuses its argument',
        );
        // Passed over until its next slot, so that the refusal is logged once per slot.
        if (slots.length > 0) schedule.cursor = slots.at(-1)!.getTime();
        continue;
      }
      offers.push({ schedule, offer: offerOf(schedule, slots, task) });
    }
    // In id order, so that instances lock the rows of the schedules they share in the same order.
    offers.sort((a, b) => (a.schedule.id < b.schedule.id ? -1 : a.schedule.id > b.schedule.id ? 1 : 0));
    // The manager's time as each statement is sent: a retry or a resend runs later than the round.
    // An injected clock is read as it is (the database's writes follow it too, so the real time the
    // round took is no offset between the two); otherwise the round's time moves on in real time.
    const startedAt = Date.now();
    const managerNow = options.clock ? () => clockNow(options) : () => now + (Date.now() - startedAt);
    let fired = 0;
    let pending = offers;
    for (let round = 0; pending.length > 0 && round <= CONTENDED_RETRIES; round++) {
      const sent = await this.#send(store, options, pending, managerNow);
      if (sent === null) return fired;
      const contended: Offered[] = [];
      for (const { outcome, sentAt } of sent) {
        this.#databaseAhead = outcome.now - sentAt;
        const entry = pending.find(({ schedule }) => schedule.id === outcome.id);
        if (!entry) continue;
        fired += outcome.fired;
        if (outcome.contended) {
          contended.push(entry);
          continue;
        }
        entry.schedule.cursor = settledUpTo(entry.offer, outcome);
        this.#reportDropped(entry.schedule, entry.offer, outcome, options);
      }
      // Offered again as they were: the slots this round saw due (later ones are the next round's).
      pending = contended;
    }
    return fired;
  }

  /**
   * Sends one firing statement for `offers`; null when it failed. A failed statement for many
   * schedules is sent again for each alone, so that one the database refuses cannot hold back
   * the others; each failure is logged with the database's reason.
   */
  async #send(
    store: TaskStore,
    options: ResolvedOptions,
    offers: Offered[],
    managerNow: () => number,
  ): Promise<{ outcome: ScheduleOutcome; sentAt: number }[] | null> {
    const sentAt = managerNow();
    try {
      const outcomes = await store.fireSchedules(offers.map(({ offer }) => offer));
      return outcomes.map((outcome) => ({ outcome, sentAt }));
    } catch (error) {
      const failure = { error: describeThrown(error), causes: errorCauses(error) };
      if (offers.length === 1) {
        options.logger.error(
          { scheduleId: offers[0]!.schedule.id, ...failure },
          'schedule not fired this round',
        );
        return null;
      }
      options.logger.warn(
        { schedules: offers.length, ...failure },
        'schedules round failed; sending each schedule alone',
      );
    }
    const sent: { outcome: ScheduleOutcome; sentAt: number }[] = [];
    for (const entry of offers) sent.push(...((await this.#send(store, options, [entry], managerNow)) ?? []));
    return sent;
  }

  /** Logs the slots a catch-up of `'all'` left out beyond `maxCatchUp`. */
  #reportDropped(
    schedule: Schedule,
    offer: ScheduleOffer,
    outcome: ScheduleOutcome,
    options: ResolvedOptions,
  ) {
    if (schedule.catchUp !== 'all' || outcome.fired === 0 || outcome.previousSlot === null) return;
    const oldestOffered = Date.parse(offer.slots[0]!);
    const dropped = slotsBetween(schedule, outcome.previousSlot, oldestOffered);
    if (dropped === 0) return;
    options.logger.warn(
      {
        scheduleId: schedule.id,
        fired: outcome.fired,
        dropped: dropped >= DROPPED_COUNT_LIMIT ? `${DROPPED_COUNT_LIMIT} or more` : dropped,
        maxCatchUp: schedule.maxCatchUp,
      },
      'schedule caught up on missed slots and dropped the older ones (maxCatchUp)',
    );
  }
}

/**
 * The newest slot this round settled: the database's `last_slot`, or, for a paused schedule, the
 * newest offered slot already due, which it passed (resuming starts from then on), so that a
 * paused schedule is not offered again at every tick.
 */
function settledUpTo(offer: ScheduleOffer, outcome: ScheduleOutcome): number | null {
  if (!outcome.paused || outcome.lastSlot === null) return outcome.lastSlot;
  const due = offer.slots.map(Date.parse).filter((slot) => slot <= outcome.now);
  return Math.max(outcome.lastSlot, ...due);
}

/** What a round tells the database of `schedule`. */
function offerOf(schedule: Schedule, slots: Date[], task: NewTask): ScheduleOffer {
  return {
    id: schedule.id,
    taskKey: schedule.definition.key,
    cron: schedule.cron,
    timezone: schedule.timezone,
    catchUp: schedule.catchUp,
    missedAfterMs: schedule.missedAfterMs,
    slots: slots.map((slot) => slot.toISOString()),
    task,
  };
}

/** A schedule as the operator's list shows it. */
export interface ScheduleInfo {
  id: string;
  /** The task key it enqueues. */
  task: string;
  cron: string;
  timezone: string;
  /** Null for a schedule the code no longer defines. */
  catchUp: CatchUp | null;
  /** Whether this manager's code defines it; an inactive schedule fires nowhere that runs this code. */
  active: boolean;
  /** Paused by an operator, for every instance. */
  paused: boolean;
  /** The next slot (ISO-8601) of an active schedule, paused or not; null for an inactive one. */
  nextSlot: string | null;
  /** The latest task it fired (at a slot, or triggered), while the table keeps it. */
  lastTask: { id: number; status: string; scheduledFor: string; lastError: string | null } | null;
}

/** What the operator's list shows of a schedule defined in code and/or stored in the table. */
export function scheduleInfo(
  defined: Schedule | undefined,
  stored: StoredSchedule | undefined,
  now: number,
): ScheduleInfo {
  const source = defined
    ? { task: defined.definition.key, cron: defined.cron, timezone: defined.timezone }
    : { task: stored!.taskKey, cron: stored!.cron, timezone: stored!.timezone };
  const next = defined?.pattern.nextRun(new Date(now)) ?? null;
  const last = stored?.lastTask ?? null;
  return {
    id: (defined?.id ?? stored?.id)!,
    ...source,
    catchUp: defined?.catchUp ?? null,
    active: defined !== undefined,
    paused: stored?.paused ?? false,
    nextSlot: next ? next.toISOString() : null,
    lastTask: last ? { ...last, scheduledFor: new Date(last.scheduledFor).toISOString() } : null,
  };
}
