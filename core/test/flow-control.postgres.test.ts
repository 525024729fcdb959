/**
 * Flow control on the real Postgres (SPEC §13), each rule stated in its test's name.
 */
import type { SQL } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTaskManager, defineTask, migrate, silentLogger } from '../src/index.js';
import { Gate, Pools, sleep, waitUntilCollector, within } from './support/concurrency.js';
import { createPostgresDatabase, postgresAvailable, type TestDatabase } from './support/databases.js';
import { gatedDb, isClaim, sqlText } from './support/gated-db.js';

const hasPostgres = await postgresAvailable();

describe.skipIf(!hasPostgres)('priorities', () => {
  let database: TestDatabase;
  beforeAll(async () => {
    database = await createPostgresDatabase();
  });
  afterAll(() => database?.close());

  it('a backlog of low-priority tasks delays a high-priority one by no more than what was already claimed', async () => {
    const starts: string[] = [];
    let highCommitted = false;
    let lowAfterCommit = 0;
    const low = defineTask({
      key: 'low',
      handler: async () => {
        starts.push('low');
        if (highCommitted) lowAfterCommit++;
        await sleep(1);
      },
    });
    const high = defineTask({ key: 'high', priority: 10, handler: () => void starts.push('high') });
    // Claims are held at a gate around the commit of the high-priority task, and it commits once
    // none is in flight, so that "already claimed" is exactly what the table shows as running.
    let claimsInFlight = 0;
    const counted = {
      async execute(query: SQL) {
        const claim = isClaim(sqlText(query));
        if (claim) claimsInFlight++;
        try {
          return await database.db.execute(query);
        } finally {
          if (claim) claimsInFlight--;
        }
      },
      transaction: (fn: (tx: any) => Promise<unknown>, config?: unknown) =>
        database.db.transaction(fn, config),
    };
    const gated = gatedDb(counted);
    const manager = createTaskManager({
      db: gated.db,
      table: 'prio',
      tasks: [low, high],
      logger: silentLogger,
      concurrency: 2,
    });
    await migrate(database.db, { table: 'prio' });
    await database.db.transaction(async (tx: any) => {
      for (let start = 0; start < 3000; start += 500) {
        await manager.enqueueMany(
          low,
          Array.from({ length: 500 }, (_, n) => ({ n: start + n })),
          { tx },
        );
      }
    });
    const collector = waitUntilCollector();
    const ticking = manager.tick({ budgetMs: 20_000, concurrency: 2, waitUntil: collector.waitUntil });
    await within(
      10_000,
      '300 low-priority starts',
      (async () => {
        while (starts.length < 300) await sleep(2);
      })(),
    );
    const gate = new Gate();
    gated.hook = async (text) => {
      if (isClaim(text)) await gate.opened;
    };
    while (claimsInFlight > 0) await sleep(1);
    await database.db.transaction((tx: any) => manager.enqueue(high, {}, { tx }));
    highCommitted = true;
    // What a tick had claimed by then (claimed ahead or running) may start first; nothing later may.
    const [held] = await database.query<{ count: number }>(
      `select count(*)::int as count from prio where status = 'running' and task_key = 'low'`,
    );
    gate.open();
    await within(
      10_000,
      'the high-priority start',
      (async () => {
        while (!starts.includes('high')) await sleep(2);
      })(),
    );
    expect(lowAfterCommit).toBeLessThanOrEqual(held!.count);
    await ticking;
    await collector.settled();
  });
});

describe.skipIf(!hasPostgres)('cancelling running work, and heartbeats', () => {
  let database: TestDatabase;
  const pools = new Pools();
  beforeAll(async () => {
    database = await createPostgresDatabase();
    await migrate(database.db, { table: 'beats' });
  });
  afterAll(async () => {
    await pools.close();
    await database?.close();
  });

  const fresh = async () => database.exec(`delete from beats`);
  const rowOf = async (id: number) =>
    (
      await database.query<{ status: string; attempts: number; last_error: string | null }>(
        'select status, attempts, last_error from beats where id = $1',
        [id],
      )
    )[0];

  it('a task cancelled from another instance sees its signal abort within a heartbeat, and ends cancelled', async () => {
    await fresh();
    const running = new Gate();
    let abortedAfterMs: number | null = null;
    let cancelledAt = 0;
    const task = defineTask({
      key: 'long',
      timeoutMs: 60_000,
      handler: (_arg: unknown, ctx) =>
        new Promise<void>((resolve) => {
          running.open();
          ctx.signal.addEventListener('abort', () => {
            abortedAfterMs = Date.now() - cancelledAt;
            // Ignores the abort and returns a success: it is discarded.
            resolve();
          });
        }),
    });
    const worker = createTaskManager({
      db: pools.open(database.url!, 3).db,
      table: 'beats',
      tasks: [task],
      logger: silentLogger,
      heartbeatInterval: 200,
    });
    const operator = createTaskManager({
      db: pools.open(database.url!, 2).db,
      table: 'beats',
      tasks: [],
      logger: silentLogger,
    });
    const [id] = await database.db.transaction((tx: any) => worker.enqueueMany(task, [{}], { tx }));
    const collector = waitUntilCollector();
    await worker.tick({ budgetMs: 1000, waitUntil: collector.waitUntil });
    await running.opened;
    cancelledAt = Date.now();
    expect(await operator.cancelTask(id!, 'no longer wanted')).toBe(true);
    await within(5000, 'the handler to settle', collector.settled());
    // Within one heartbeat (200 ms), with room for the statement and a busy machine.
    expect(abortedAfterMs).not.toBeNull();
    expect(abortedAfterMs!).toBeLessThan(200 + 400);
    expect(await rowOf(id!)).toMatchObject({ status: 'cancelled', last_error: 'no longer wanted' });
  });

  it('a dead invocation’s 60-second task is rescued within a few heartbeats; a live one’s never', async () => {
    await fresh();
    const gated = gatedDb(database.db);
    const runs: string[] = [];
    const live = new Gate();
    const task = defineTask({
      key: 'minute',
      timeoutMs: 60_000,
      retryTimes: 1,
      handler: async ({ who }: { who: string }) => {
        runs.push(who);
        // The first run's invocation dies under it; the rescued run finishes.
        if (who === 'dies' && runs.filter((run) => run === 'dies').length === 1)
          return new Promise<void>(() => {});
        if (who === 'lives') await live.opened;
      },
    });
    const options = {
      table: 'beats',
      tasks: [task],
      logger: silentLogger,
      heartbeatInterval: 200,
      leaseMargin: 300,
    };
    const dying = createTaskManager({ ...options, db: gated.db });
    const healthy = createTaskManager({ ...options, db: pools.open(database.url!, 3).db });
    const scanner = createTaskManager({ ...options, db: pools.open(database.url!, 3).db });
    const [dies] = await database.db.transaction((tx: any) =>
      dying.enqueueMany(task, [{ who: 'dies' }], { tx }),
    );
    void dying.tick({ budgetMs: 500 });
    await within(
      5000,
      'its start recorded',
      (async () => {
        while (
          (await database.query(`select 1 from beats where id = $1 and started_at is not null`, [dies]))
            .length === 0
        )
          await sleep(10);
      })(),
    );
    gated.die();
    const diedAt = Date.now();
    const [lives] = await database.db.transaction((tx: any) =>
      healthy.enqueueMany(task, [{ who: 'lives' }], { tx }),
    );
    const healthyTicks = waitUntilCollector();
    await healthy.tick({ budgetMs: 500, waitUntil: healthyTicks.waitUntil });
    // Another instance scans for 3 s: the dead lease (3 heartbeats = 600 ms, + 300 ms) runs out; the live one is renewed.
    let rescuedAfterMs: number | null = null;
    const scans = waitUntilCollector();
    while (Date.now() - diedAt < 3000) {
      const report = await scanner.tick({ budgetMs: 100, waitUntil: scans.waitUntil });
      if (report.rescued > 0 && rescuedAfterMs === null) rescuedAfterMs = Date.now() - diedAt;
      await sleep(50);
    }
    live.open();
    await Promise.all([healthyTicks.settled(), scans.settled()]);
    expect(rescuedAfterMs).not.toBeNull();
    expect(rescuedAfterMs!).toBeLessThan(2000);
    expect(runs.filter((who) => who === 'dies')).toEqual(['dies', 'dies']);
    expect(runs.filter((who) => who === 'lives')).toEqual(['lives']);
    expect(await rowOf(lives!)).toMatchObject({ status: 'succeeded', attempts: 1 });
  });
});

describe.skipIf(!hasPostgres)('group limits under a forced race between two claims', () => {
  let database: TestDatabase;
  const pools = new Pools();
  beforeAll(async () => {
    database = await createPostgresDatabase();
  });
  afterAll(async () => {
    await pools.close();
    await database?.close();
  });

  /**
   * A database whose first claim runs in a transaction held open until `release` opens, so that a
   * second instance claims while the first claim's writes are not committed yet.
   */
  function holdingFirstClaim(db: any) {
    const sent = new Gate();
    const release = new Gate();
    let held = false;
    return {
      sent,
      release,
      db: {
        async execute(query: SQL) {
          if (held || !isClaim(sqlText(query))) return db.execute(query);
          held = true;
          return db.transaction(async (tx: any) => {
            const result = await tx.execute(query);
            sent.open();
            await release.opened;
            return result;
          });
        },
        transaction: (fn: (tx: any) => Promise<unknown>, config?: unknown) => db.transaction(fn, config),
      },
    };
  }

  /** Resolves once some statement waits for a lock another transaction holds. */
  async function someoneWaitsForALock(): Promise<void> {
    await within(
      10_000,
      'a claim waiting on the held one',
      (async () => {
        for (;;) {
          const [row] = await database.query<{ waiting: number }>(
            `select count(*)::int as waiting from pg_locks where not granted`,
          );
          if (row!.waiting > 0) return;
          await sleep(5);
        }
      })(),
    );
  }

  // Guarantee: two claims that both saw the group's last slot free start one task between them;
  // the unique index refuses the other, whose claim is sent again and sees the group full.
  it('a concurrency slot taken by an uncommitted claim is not taken again by another', async () => {
    const table = 'slot_race';
    await migrate(database.db, { table });
    const hold = new Gate();
    const task = defineTask({ key: 'one-at-a-time', concurrency: { limit: 1 }, handler: () => hold.opened });
    const first = holdingFirstClaim(pools.open(database.url!, 3).db);
    const second = gatedDb(pools.open(database.url!, 3).db);
    let secondClaims = 0;
    second.hook = (text) => {
      if (isClaim(text)) secondClaims++;
    };
    const options = { table, tasks: [task], logger: silentLogger, concurrency: 5 };
    const a = createTaskManager({ ...options, db: first.db });
    const b = createTaskManager({ ...options, db: second.db });
    // The first claim locks the candidates it looked at: the second task is enqueued after it.
    await database.db.transaction((tx: any) => a.enqueue(task, {}, { tx }));
    const collector = waitUntilCollector();
    const ticking = a.tick({ budgetMs: 10_000, waitUntil: collector.waitUntil });
    await first.sent.opened;
    await database.db.transaction((tx: any) => a.enqueue(task, {}, { tx }));
    const racing = b.tick({ budgetMs: 10_000, waitUntil: collector.waitUntil });
    await someoneWaitsForALock();
    first.release.open();
    const reports = await Promise.all([ticking, racing]);
    expect(reports.map((report) => report.claimed).sort()).toEqual([0, 1]);
    expect(secondClaims).toBeGreaterThanOrEqual(2);
    const [running] = await database.query<{ count: number }>(
      `select count(*)::int as count from ${table} where status = 'running'`,
    );
    expect(running!.count).toBe(1);
    hold.open();
    await collector.settled();
    await a.stop();
    await b.stop();
  });

  // Guarantee: a rate slot taken by one claim is not taken again within its period by another
  // that saw it free; that claim's task waits for the slot instead.
  it('a rate slot taken by an uncommitted claim is not taken again by another', async () => {
    const table = 'rate_race';
    await migrate(database.db, { table });
    const task = defineTask({
      key: 'once-a-minute',
      rateLimit: { limit: 1, periodMs: 60_000 },
      handler: () => {},
    });
    const first = holdingFirstClaim(pools.open(database.url!, 3).db);
    const options = { table, tasks: [task], logger: silentLogger, concurrency: 5 };
    const a = createTaskManager({ ...options, db: first.db });
    const b = createTaskManager({ ...options, db: pools.open(database.url!, 3).db });
    await database.db.transaction((tx: any) => a.enqueue(task, {}, { tx }));
    const ticking = a.tick({ budgetMs: 10_000 });
    await first.sent.opened;
    await database.db.transaction((tx: any) => a.enqueue(task, {}, { tx }));
    const racing = b.tick({ budgetMs: 10_000 });
    await someoneWaitsForALock();
    first.release.open();
    const reports = await Promise.all([ticking, racing]);
    expect(reports.map((report) => report.succeeded).sort()).toEqual([0, 1]);
    const rows = await database.query<{ status: string; waits_ms: number }>(
      `select status, (extract(epoch from run_at - now()) * 1000)::float8 as waits_ms
       from ${table} where task_key = 'once-a-minute' order by id`,
    );
    expect(rows.map((row) => row.status).sort()).toEqual(['initialized', 'succeeded']);
    const waiting = rows.find((row) => row.status === 'initialized')!;
    expect(waiting.waits_ms).toBeGreaterThan(50_000);
    const slots = await database.query(`select slot from ${table}_rate_slots`);
    expect(slots).toHaveLength(1);
  });
  // Guarantee: a rate-limited task starts as soon as its claim returns, never after waiting in a
  // tick's queue, so its handler starts within its claim's round trip of the time the database
  // counted; measured at the handlers, no window of a period (less that slack) holds more starts.
  it('rate-limited tasks are claimed only to start at once, so handler starts keep the rate', async () => {
    const table = 'rate_starts';
    await migrate(database.db, { table });
    const rate = { limit: 5, periodMs: 500 };
    const starts: number[] = [];
    const rated = defineTask({ key: 'rated', rateLimit: rate, handler: () => void starts.push(Date.now()) });
    // Slow tasks without limits beside them make the tick claim ahead and queue.
    const filler = defineTask({ key: 'filler', handler: () => sleep(40) });
    const manager = createTaskManager({
      db: database.db,
      table,
      tasks: [rated, filler],
      logger: silentLogger,
    });
    await database.db.transaction(async (tx: any) => {
      for (let round = 0; round < 40; round++) {
        await manager.enqueueMany(filler, [{}, {}, {}, {}], { tx });
        await manager.enqueue(rated, {}, { tx });
      }
    });
    const until = Date.now() + 15_000;
    while (starts.length < 40 && Date.now() < until) await manager.tick({ budgetMs: 1000, concurrency: 2 });
    expect(starts).toHaveLength(40);
    const slackMs = 50;
    let most = 0;
    for (const [index, start] of starts.entries()) {
      most = Math.max(
        most,
        starts.filter((other, j) => j >= index && other - start < rate.periodMs - slackMs).length,
      );
    }
    expect(most).toBe(rate.limit);
  });
});
