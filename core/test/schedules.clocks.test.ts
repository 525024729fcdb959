/**
 * Schedules when the manager's clock and the database's disagree (SPEC §12): slots come due by the
 * database's clock, and the manager offers them by its own clock moved by the difference it saw at
 * its last round. The database's clock here is the store's injected one, the manager's the time
 * passed to each round, so that the two can be set apart by any amount.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defineTask, migrate, silentLogger } from '../src/index.js';
import { resolveOptions } from '../src/options.js';
import { TaskRegistry } from '../src/prepare.js';
import { ScheduleBook, type ScheduleDefinition } from '../src/schedules.js';
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
async function setUp(definition: Omit<ScheduleDefinition, 'task'>, databaseNow: () => number) {
  const table = `sched_clock_${tables++}`;
  await migrate(database.db, { table });
  const registry = new TaskRegistry();
  registry.register(task);
  const book = new ScheduleBook(registry);
  book.add({ ...definition, task });
  const options = resolveOptions({ db: database.db, table, logger: silentLogger });
  const store = sqlStore({ db: database.db, table, clock: () => new Date(databaseNow()) });
  const fired = async () =>
    (
      await database.query<{ slot: string }>(
        `select to_char(scheduled_for at time zone 'UTC', 'HH24:MI:SS') as slot from ${table} order by scheduled_for`,
      )
    ).map((row) => row.slot);
  return { book, round: (managerNow: number) => book.fire(store, options, managerNow), fired };
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
});
