/**
 * Schedules on the real Postgres (SPEC §12): a slot fires once however many instances tick at
 * once, each guarantee stated next to its test.
 */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTaskManager, defineTask, migrate, silentLogger, type TaskManager } from '../src/index.js';
import { Pools, sleep, within } from './support/concurrency.js';
import { createPostgresDatabase, postgresAvailable, type TestDatabase } from './support/databases.js';

const hasPostgres = await postgresAvailable();

describe.skipIf(!hasPostgres)('schedules across instances', () => {
  let database: TestDatabase;
  const pools = new Pools();
  beforeAll(async () => {
    database = await createPostgresDatabase();
  });
  afterAll(async () => {
    await pools.close();
    await database?.close();
  });

  const recorder = () =>
    defineTask({ key: 'every-second', handler: (_arg: unknown, ctx) => void ctx.scheduledFor });

  /** Managers on pools of their own, as instances; each ticks its schedule round. */
  function instances(
    table: string,
    count: number,
    cron: string,
    catchUp: 'all' | 'latest' = 'all',
  ): TaskManager[] {
    const task = recorder();
    return Array.from({ length: count }, () =>
      createTaskManager({
        db: pools.open(database.url!, 2).db,
        table,
        tasks: [task],
        logger: silentLogger,
        schedules: [{ id: 'beat', task, cron, catchUp }],
      }),
    );
  }

  async function firedSlots(table: string): Promise<number[]> {
    const rows = await database.query<{ slot: number }>(
      `select (extract(epoch from scheduled_for) * 1000)::float8 as slot from ${table}
       where schedule_id = 'beat' order by scheduled_for`,
    );
    return rows.map((row) => Number(row.slot));
  }

  // Guarantee: two firing rounds that read the same last slot fire it once between them: the
  // second one's compare-and-set finds the row moved on and inserts nothing.
  it('two rounds racing for one slot fire it once: the loser waits for the row and finds it moved', async () => {
    const table = 'schedule_race';
    await migrate(database.db, { table });
    const [a, b] = instances(table, 2, '* * * * * *');
    await a!.tick();
    await sleep(1100); // a slot has come due
    const holder = new pg.Client({ connectionString: database.url! });
    await holder.connect();
    try {
      // Holding the schedule's row makes both rounds read it, then wait on it.
      await holder.query('begin');
      await holder.query(`select 1 from ${table}_schedules where id = 'beat' for update`);
      const ticks = [a!.tick(), b!.tick()];
      await within(10_000, 'both rounds waiting on the row', waitForLockWaiters(`${table}_schedules`, 2));
      await holder.query('commit');
      const reports = await Promise.all(ticks);
      const slots = await firedSlots(table);
      // One or two seconds may have come due by the rounds' start: the winner fires them all.
      expect(slots.length).toBeGreaterThanOrEqual(1);
      expect(reports.map((report) => report.scheduled).sort()).toEqual([0, slots.length]);
      expect(new Set(slots).size).toBe(slots.length);
      for (const slot of slots) expect(slot % 1000).toBe(0);
    } finally {
      await holder.end();
    }
  });

  // Guarantee: a round that finds a schedule's row written by another instance while it ran (both
  // seeing the schedule first) takes its cursor from that row at its next round, so that it skips
  // none of the slots after the row's own start.
  it('a first sight that loses the insert to another instance reads that row next round and fires its slots', async () => {
    const table = 'schedule_first_sight';
    await migrate(database.db, { table });
    const [b] = instances(table, 1, '* * * * * *');
    const holder = new pg.Client({ connectionString: database.url! });
    await holder.connect();
    try {
      // Another instance saw the schedule first, 3 s ago, and has not committed yet.
      await holder.query('begin');
      await holder.query(
        `insert into ${table}_schedules (id, task_key, cron, timezone, last_slot, created_at, updated_at)
         values ('beat', 'every-second', '* * * * * *', 'UTC', now() - interval '3 seconds', now(), now())`,
      );
      const first = b!.tick();
      await within(10_000, 'the round waiting on the insert', waitForLockWaiters(`${table}_schedules`, 1));
      await holder.query('commit');
      expect((await first).scheduled).toBe(0);
    } finally {
      await holder.end();
    }
    const [{ since }] = (await database.query<{ since: number }>(
      `select (extract(epoch from last_slot) * 1000)::float8 as since from ${table}_schedules`,
    )) as [{ since: number }];
    expect((await b!.tick()).scheduled).toBeGreaterThanOrEqual(2);
    const slots = await firedSlots(table);
    // Every second after the other instance's start is fired, the oldest first.
    expect(slots[0]!).toBe(Math.floor(since / 1000) * 1000 + 1000);
    for (const [index, slot] of slots.entries()) expect(slot).toBe(slots[0]! + index * 1000);
  });

  /** Until the clock reaches the next whole second, plus `afterMs`. */
  const nextSecond = (afterMs: number) => sleep(1000 - (Date.now() % 1000) + afterMs);

  /**
   * Two instances' rounds of successive seconds forced to overlap under catchUp 'latest': a holder
   * locks the schedule's row, A's round starts in second k and waits on it, B's starts in second
   * k + 1 and waits too; `beforeCommit` runs before the holder lets them go.
   */
  async function raceOfTwoSeconds(table: string, beforeCommit: () => Promise<void> = async () => {}) {
    await migrate(database.db, { table });
    const [a, b] = instances(table, 2, '* * * * * *', 'latest');
    await a!.tick();
    await b!.tick();
    const holder = new pg.Client({ connectionString: database.url! });
    await holder.connect();
    try {
      await nextSecond(0);
      await holder.query('begin');
      await holder.query(`select 1 from ${table}_schedules where id = 'beat' for update`);
      await nextSecond(150);
      const k = Math.floor(Date.now() / 1000) * 1000; // A's round sees slot k due
      const first = a!.tick();
      await within(10_000, "A's round waiting on the row", waitForLockWaiters(`${table}_schedules`, 1));
      await nextSecond(150); // B's round sees k + 1 due too
      const second = b!.tick();
      await within(10_000, "B's round waiting on the row", waitForLockWaiters(`${table}_schedules`, 2));
      await beforeCommit();
      await holder.query('commit');
      const scheduled = [(await first).scheduled, (await second).scheduled];
      return { k, scheduled, b: b! };
    } finally {
      await holder.end();
    }
  }

  // Guarantee: under catchUp 'latest', a round that loses the compare-and-set to a round of an
  // earlier second still fires the slot that came due between the two.
  it("a round losing the race to an earlier second's round fires the slot between them (catchUp latest)", async () => {
    const { k, scheduled } = await raceOfTwoSeconds('schedule_contended');
    expect(scheduled).toEqual([1, 1]);
    const slots = await firedSlots('schedule_contended');
    expect(slots.filter((slot) => slot >= k)).toEqual([k, k + 1000]);
  });

  // Guarantee: a round whose retry ran long after it began does not take the wait for the
  // database's clock running ahead: its next round still offers, and fires, the slot due.
  it('after a retry held for two seconds, the next round fires the slot due (catchUp latest)', async () => {
    const { b } = await raceOfTwoSeconds('schedule_contended_late', async () => {
      await nextSecond(0);
      await nextSecond(300); // B's retry runs two seconds after its round began
    });
    expect((await b.tick()).scheduled).toBe(1);
  });

  // Guarantee: a long-lived runner busy with a backlog still fires an every-second schedule each
  // second: its ticks end by the next slot instead of running out their scanInterval.
  it('a runner draining a backlog fires an every-second schedule every second (catchUp latest)', async () => {
    const table = 'schedule_busy_runner';
    await migrate(database.db, { table });
    const beat = recorder();
    const slow = defineTask({ key: 'slow', handler: () => sleep(10) });
    const manager = createTaskManager({
      db: pools.open(database.url!, 4).db,
      table,
      tasks: [beat, slow],
      logger: silentLogger,
      concurrency: 2,
      schedules: [{ id: 'beat', task: beat, cron: '* * * * * *' }],
    });
    manager.start();
    try {
      await within(
        5_000,
        'the first slot',
        (async () => {
          while ((await firedSlots(table)).length === 0) await sleep(50);
        })(),
      );
      const busyFrom = Date.now();
      // 500 tasks of 10 ms, two at a time: more than one claim holds, about 3 s of backlog.
      await manager.enqueueMany(
        slow,
        Array.from({ length: 500 }, () => null),
      );
      const unfinished = async () =>
        (
          await database.query<{ left: number }>(
            `select count(*)::int as left from ${table} where task_key = 'slow' and status <> 'succeeded'`,
          )
        )[0]!.left;
      await within(
        60_000,
        'the backlog drained',
        (async () => {
          while ((await unfinished()) > 0) await sleep(50);
        })(),
      );
      const busyUntil = Date.now();
      const slots = (await firedSlots(table)).filter(
        (slot) => slot >= busyFrom - 1000 && slot <= busyUntil - 1000,
      );
      expect(slots.length).toBeGreaterThanOrEqual(2);
      for (const [index, slot] of slots.entries()) expect(slot).toBe(slots[0]! + index * 1000);
    } finally {
      await manager.stop();
    }
  });

  /** Until `count` statements on `relation` wait for a lock (other suites share the server). */
  async function waitForLockWaiters(relation: string, count: number): Promise<void> {
    for (;;) {
      const [row] = await database.query<{ waiting: number }>(
        `select count(*)::int as waiting from pg_stat_activity
         where wait_event_type = 'Lock' and position($1 in query) > 0`,
        [relation],
      );
      if (row!.waiting >= count) return;
      await sleep(5);
    }
  }

  // Guarantee: however many instances tick and however their ticks overlap, each slot of a
  // schedule is enqueued exactly once.
  it('8 instances ticking an every-second schedule for 30 s enqueue one task per second, none missing', async () => {
    const table = 'schedule_beat';
    await migrate(database.db, { table });
    const managers = instances(table, 8, '* * * * * *');
    const endsAt = Date.now() + 30_000;
    let firstTickAt = 0;
    let scheduled = 0;
    await Promise.all(
      managers.map(async (manager) => {
        while (Date.now() < endsAt) {
          const report = await manager.tick({ budgetMs: 200 });
          firstTickAt ||= Date.now();
          scheduled += report.scheduled;
          await sleep(Math.random() * 150);
        }
      }),
    );
    const lastTickAt = Date.now();
    const slots = await firedSlots(table);
    expect(new Set(slots).size).toBe(slots.length);
    expect(scheduled).toBe(slots.length);
    // Consecutive seconds from the first fired slot to the last, nothing missing between.
    for (const [index, slot] of slots.entries()) expect(slot).toBe(slots[0]! + index * 1000);
    expect(slots.length).toBeGreaterThanOrEqual(28);
    expect(slots[0]!).toBeLessThanOrEqual(firstTickAt + 2000);
    expect(slots.at(-1)!).toBeGreaterThanOrEqual(lastTickAt - 2000);
    const [{ unfinished }] = (await database.query<{ unfinished: number }>(
      `select count(*)::int as unfinished from ${table} where schedule_id = 'beat' and status <> 'succeeded'`,
    )) as [{ unfinished: number }];
    expect(unfinished).toBeLessThanOrEqual(8);
  }, 60_000);
});
