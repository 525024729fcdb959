/**
 * Schedule rounds as the book sends them (SPEC §12), with the store in reach. When the manager's
 * clock and the database's disagree: slots come due by the database's clock, and the manager offers
 * them by its own clock moved by the difference it saw at its last round (the database's clock here
 * is the store's injected one, the manager's the time passed to each round, so that the two can be
 * set apart by any amount). And when the database refuses one schedule's part of a round.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defineTask, migrate, silentLogger } from '../src/index.js';
import { resolveOptions } from '../src/options.js';
import { TaskRegistry } from '../src/prepare.js';
import { ScheduleBook, type ScheduleDefinition, slotsToOffer } from '../src/schedules.js';
import type { TaskStore } from '../src/storage/index.js';
import { sqlStore } from '../src/storage/store.js';
import { createPgliteDatabase, type TestDatabase } from './support/databases.js';

let database: TestDatabase;
beforeAll(async () => {
  database = await createPgliteDatabase();
});
afterAll(() => database?.close());

const task = defineTask({ key: 'minutely', handler: () => {} });
let tables = 0;

/** A schedule book and a store on a fresh table whose clock reads `databaseNow()`. */
async function setUp(
  definition: Omit<ScheduleDefinition, 'task'>,
  databaseNow: () => number,
  wrap: (store: TaskStore) => TaskStore = (store) => store,
  more: Omit<ScheduleDefinition, 'task'>[] = [],
  table = `sched_clock_${tables++}`,
) {
  await migrate(database.db, { table });
  const registry = new TaskRegistry();
  registry.register(task);
  const book = new ScheduleBook(registry);
  for (const each of [definition, ...more]) book.add({ ...each, task });
  const options = resolveOptions({ db: database.db, table, logger: silentLogger });
  const store = wrap(sqlStore({ db: database.db, table, clock: () => new Date(databaseNow()) }));
  const fired = async () =>
    (
      await database.query<{ slot: string }>(
        `select to_char(scheduled_for at time zone 'UTC', 'HH24:MI:SS') as slot from ${table} order by scheduled_for`,
      )
    ).map((row) => row.slot);
  return { book, table, round: (managerNow: number) => book.fire(store, options, managerNow), fired };
}

const at = (time: string) => Date.parse(`2026-06-01T${time}Z`);

describe('schedules across disagreeing clocks', () => {
  // Guarantee: a manager whose clock runs periods ahead of the database's still fires
  // each slot once the database's clock reaches it.
  it.each(['latest', 'none'] as const)(
    'a manager 150 s ahead of the database fires every minute (catchUp %s)',
    async (catchUp) => {
      let databaseNow = at('12:00:30');
      const { round, fired } = await setUp(
        { id: 'ahead', cron: '* * * * *', catchUp, missedAfterMs: 10_000 },
        () => databaseNow,
      );
      await round(databaseNow + 150_000); // first sight: the row starts from the database's now
      for (const time of ['12:01:00', '12:02:00', '12:03:00']) {
        databaseNow = at(time) + 2_000;
        expect(await round(databaseNow + 150_000)).toBe(1);
      }
      expect(await fired()).toEqual(['12:01:00', '12:02:00', '12:03:00']);
    },
  );

  // Guarantee: a manager whose clock runs behind the database's by more than `missedAfterMs` still
  // fires a `'none'` slot that the database sees in time.
  it('a manager 30 s behind the database fires catchUp none slots it sees in time', async () => {
    let databaseNow = at('12:00:30');
    const { round, fired } = await setUp(
      { id: 'behind', cron: '* * * * *', catchUp: 'none', missedAfterMs: 5_000 },
      () => databaseNow,
    );
    await round(databaseNow - 30_000);
    for (const time of ['12:01:00', '12:02:00']) {
      databaseNow = at(time) + 1_000;
      expect(await round(databaseNow - 30_000)).toBe(1);
    }
    expect(await fired()).toEqual(['12:01:00', '12:02:00']);
  });

  // Guarantee: a slot the manager thought due but the database did not is offered again once the
  // database's clock reaches it, not a period later.
  it('a round that reaches a slot before the database does leaves it for the next round, soon', async () => {
    let databaseNow = at('12:00:30');
    const { book, round, fired } = await setUp(
      { id: 'early', cron: '* * * * *', catchUp: 'latest' },
      () => databaseNow,
    );
    await round(databaseNow); // the clocks agree at first
    const managerNow = at('12:01:00.010');
    databaseNow = managerNow - 50; // then the database falls 50 ms behind the manager
    expect(await round(managerNow)).toBe(0); // the database: not due yet
    // The book learned that the database is 50 ms behind: the next round is due when it reaches 12:01.
    const wait = book.msToNextRound(managerNow);
    expect(wait).toBe(40);
    expect(book.roundWanted(managerNow, managerNow + 10)).toBe(false);
    expect(book.roundWanted(managerNow, managerNow + wait)).toBe(true);
    databaseNow += wait;
    expect(await round(managerNow + wait)).toBe(1);
    expect(await fired()).toEqual(['12:01:00']);
  });

  // Guarantee: a schedule whose part of a round the database refuses holds back no other schedule.
  it('a round the database refuses for one schedule still fires the others', async () => {
    let databaseNow = at('12:00:30');
    const refusing = (store: TaskStore): TaskStore => ({
      ...store,
      fireSchedules: (offers) =>
        offers.some((offer) => offer.id === 'refused')
          ? Promise.reject(new Error('refused by the database'))
          : store.fireSchedules(offers),
    });
    const { round, fired } = await setUp(
      { id: 'kept', cron: '* * * * *', catchUp: 'latest' },
      () => databaseNow,
      refusing,
      [{ id: 'refused', cron: '* * * * *' }],
    );
    await round(databaseNow);
    databaseNow = at('12:01:01');
    expect(await round(databaseNow)).toBe(1);
    expect(await fired()).toEqual(['12:01:00']);
  });

  // Guarantee: a cron whose earlier runs fall before 1970 (croner reads a seventh field as the year)
  // offers none of them, so that the database never refuses its round.
  it('a cron with a year field offers no slot before 1970, and the other schedules fire', async () => {
    let databaseNow = at('12:00:30');
    const schedules = [{ id: 'year-one', cron: '0 0 0 1 1 * 1,2099', timezone: 'Asia/Tokyo' }];
    const first = await setUp({ id: 'kept', cron: '* * * * *' }, () => databaseNow, undefined, schedules);
    await first.round(databaseNow);
    // A second instance's first round: the rows exist, its cursors do not.
    const second = await setUp(
      { id: 'kept', cron: '* * * * *' },
      () => databaseNow,
      undefined,
      schedules,
      first.table,
    );
    databaseNow = at('12:01:01');
    const offered = slotsToOffer(second.book.get('year-one')!, databaseNow);
    expect(offered.map((slot) => slot.getUTCFullYear())).toEqual([]);
    expect(await second.round(databaseNow)).toBe(1);
    expect(await first.round(databaseNow)).toBe(0);
    expect(await second.fired()).toEqual(['12:01:00']);
  });
});
