/**
 * Group limits on a memory task table ({@link MemoryTaskTable}), with the rules of the SQL claim
 * (`storage/limits.ts`): a task of a concurrency group starts while fewer of the group's tasks run
 * than its limit, holding one of its slots, and a task of a rate-limited group starts when one of
 * the group's slots is free, which it then takes for a period; a task left without a rate slot
 * waits until the group's first slot frees.
 * @module
 */
import type { GroupLimits, SelectedRow } from './storage/index.js';

/** The slots of a memory table's groups, kept with the table so that its managers share them. */
export interface MemorySlots {
  /** Tasks that took a concurrency slot when last claimed; those still `running` hold it. */
  concurrencyHolders: Set<number>;
  /** The time each rate slot frees, by task key, group and slot. */
  rateFreeAt: Map<string, number>;
}

export function memorySlots(): MemorySlots {
  return { concurrencyHolders: new Set(), rateFreeAt: new Map() };
}

/** How a claim treats one candidate: started, left due, or moved to a later `run_at`. */
export type Admission = { start: true } | { start: false; deferTo: number | null };

/** The limits of one claim, over the rows as they stand when it begins. */
export class MemoryClaimLimits {
  readonly #running = new Map<string, number>();
  readonly #caps: Map<string, number>;
  readonly #rates: Map<string, { limit: number; periodMs: number }>;
  /** Rate groups whose every slot was taken when the claim began: none of their tasks is a candidate. */
  readonly #exhausted = new Set<string>();
  /** Rate-limited candidates decided on so far. */
  #rateRanked = 0;

  constructor(
    readonly slots: MemorySlots,
    limits: GroupLimits | null,
    rows: Iterable<SelectedRow>,
    now: number,
    /** Rate-limited tasks the claim may start at most; those beyond are left due. */
    readonly rateLimitedMax: number,
  ) {
    this.#caps = new Map(limits?.concurrency.map(({ key, limit }) => [key, limit]) ?? []);
    this.#rates = new Map(limits?.rate.map(({ key, limit, periodMs }) => [key, { limit, periodMs }]) ?? []);
    for (const row of rows) {
      if (row.status !== 'running' || !slots.concurrencyHolders.has(Number(row.id))) continue;
      const group = groupOf(row.task_key, row.concurrency_key);
      this.#running.set(group, (this.#running.get(group) ?? 0) + 1);
    }
    const taken = new Map<string, number>();
    for (const [slot, freeAt] of slots.rateFreeAt) {
      const [taskKey, rateKey, index] = JSON.parse(slot) as [string, string, number];
      const rate = this.#rates.get(taskKey);
      if (!rate || index >= rate.limit || freeAt <= now) continue;
      const group = groupOf(taskKey, rateKey);
      taken.set(group, (taken.get(group) ?? 0) + 1);
      if (taken.get(group)! >= rate.limit) this.#exhausted.add(group);
    }
  }

  /**
   * Whether `row`'s groups have room: its concurrency group, if limited, runs fewer than its limit,
   * and its rate group, if limited, had a free slot when the claim began (the candidate filter).
   */
  hasRoom(row: SelectedRow): boolean {
    if (row.rate_key !== null && this.#exhausted.has(groupOf(row.task_key, row.rate_key))) return false;
    const cap = this.#concurrencyCap(row);
    return cap === undefined || (this.#running.get(groupOf(row.task_key, row.concurrency_key)) ?? 0) < cap;
  }

  /** Decides on `row`, a candidate in claim order, and takes its slots when it starts. */
  admit(row: SelectedRow, now: number): Admission {
    const id = Number(row.id);
    if (!this.hasRoom(row)) return { start: false, deferTo: null };
    const rate = row.rate_key === null ? undefined : this.#rates.get(row.task_key);
    if (rate) {
      if (this.#rateRanked++ >= this.rateLimitedMax) return { start: false, deferTo: null };
      const slot = this.#freeRateSlot(row, rate.limit, now);
      if (slot === null) return { start: false, deferTo: this.#firstRateFree(row, rate.limit) };
      this.slots.rateFreeAt.set(rateSlotOf(row, slot), now + rate.periodMs);
    }
    if (this.#concurrencyCap(row) === undefined) {
      this.slots.concurrencyHolders.delete(id);
    } else {
      const group = groupOf(row.task_key, row.concurrency_key);
      this.#running.set(group, (this.#running.get(group) ?? 0) + 1);
      this.slots.concurrencyHolders.add(id);
    }
    return { start: true };
  }

  #concurrencyCap(row: SelectedRow): number | undefined {
    return row.concurrency_key === null ? undefined : this.#caps.get(row.task_key);
  }

  #freeRateSlot(row: SelectedRow, limit: number, now: number): number | null {
    for (let slot = 0; slot < limit; slot++) {
      if ((this.slots.rateFreeAt.get(rateSlotOf(row, slot)) ?? Number.NEGATIVE_INFINITY) <= now) return slot;
    }
    return null;
  }

  #firstRateFree(row: SelectedRow, limit: number): number {
    let first = Number.POSITIVE_INFINITY;
    for (let slot = 0; slot < limit; slot++) {
      first = Math.min(first, this.slots.rateFreeAt.get(rateSlotOf(row, slot)) ?? first);
    }
    return first;
  }
}

function groupOf(taskKey: string, groupKey: string | null): string {
  return JSON.stringify([taskKey, groupKey]);
}

function rateSlotOf(row: SelectedRow, slot: number): string {
  return JSON.stringify([row.task_key, row.rate_key, slot]);
}
