/**
 * The guarantees of SPEC §11 under the races that used to break them, on the real Postgres. Each
 * race is forced, not hoped for: a transaction held open by a gate, a statement held back before it
 * is sent (support/gated-db.ts), a row trigger that waits on an advisory lock the test holds, or a
 * database that stops answering, as when an invocation's process dies. Each test states its
 * guarantee in its name.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type AbnormalTask,
  createTaskManager,
  defineTask,
  errorCauses,
  migrate,
  silentLogger,
  type TaskDefinition,
  type TaskManagerOptions,
  tickWindow,
} from '../src/index.js';
import { manualClock } from './semantics/harness.js';
import { ExecutionTracker, Gate, Pools, sleep, waitUntilCollector, within } from './support/concurrency.js';
import { createPostgresDatabase, postgresAvailable, type TestDatabase } from './support/databases.js';
import { gatedDb, isClaim } from './support/gated-db.js';

const hasPostgres = await postgresAvailable();

let tableCounter = 0;

describe.skipIf(!hasPostgres)('the guarantees under forced races', () => {
  let database: TestDatabase;
  const pools = new Pools();

  beforeAll(async () => {
    database = await createPostgresDatabase({ poolSize: 8 });
  });
  afterAll(async () => {
    await pools.close();
    await database?.close();
  });

  /** A migrated manager on a fresh table (or `options.table`), on `db` (default: the suite's pool). */
  async function manager(
    tasks: TaskDefinition<any, any, any>[],
    options: Partial<TaskManagerOptions> & { db?: any } = {},
  ) {
    const table = options.table ?? `g_${tableCounter++}`;
    const created = createTaskManager({ db: database.db, logger: silentLogger, tasks, ...options, table });
    await migrate(database.db, { table });
    return created;
  }

  /** Polls `check` every 5 ms until it holds, failing after `ms`. */
  async function until(what: string, check: () => boolean | Promise<boolean>, ms = 5000) {
    await within(
      ms,
      what,
      (async () => {
        while (!(await check())) await sleep(5);
      })(),
    );
  }

  async function rowsOf(table: string) {
    return database.query<{ id: string; status: string; attempts: number; started: boolean }>(
      `select id::text, status, attempts, started_at is not null as started from "${table}"
       where task_key not like 'gta:%' order by id`,
    );
  }

  describe('sequence keys are exclusive', () => {
    function sequenced(tracker: ExecutionTracker, events: string[], holds: Map<number, Gate>) {
      return defineTask({
        key: 'sequenced',
        handler: async ({ n }: { n: number }, ctx) => {
          tracker.start(ctx.task.id, 'instance', ctx.task.sequenceKey);
          events.push(`start ${n}`);
          await holds.get(n)?.opened;
          events.push(`end ${n}`);
          tracker.end(ctx.task.id, 'instance', ctx.task.sequenceKey);
        },
      });
    }

    it('a task committed late never starts while a later-enqueued task of its key runs', async () => {
      const tracker = new ExecutionTracker();
      const events: string[] = [];
      const holds = new Map([[2, new Gate()]]);
      const task = sequenced(tracker, events, holds);
      const m = await manager([task]);
      // Transaction A enqueues #1 and stays open; #2, enqueued alone meanwhile, starts at once.
      const enqueuedInA = new Gate();
      const commitA = new Gate();
      const a = database.db.transaction(async (tx: any) => {
        await m.enqueue(task, { n: 1 }, { tx, sequenceKey: 'k' });
        enqueuedInA.open();
        await commitA.opened;
      });
      await enqueuedInA.opened;
      const hook = waitUntilCollector();
      await m.enqueue(task, { n: 2 }, { sequenceKey: 'k', waitUntil: hook.waitUntil });
      await until('#2 started', () => events.includes('start 2'));
      commitA.open();
      await a;
      const ticking = waitUntilCollector();
      expect((await m.tick({ budgetMs: 1000, waitUntil: ticking.waitUntil })).claimed).toBe(0);
      holds.get(2)!.open();
      await hook.settled();
      expect((await m.tick({ budgetMs: 1000 })).succeeded).toBe(1);
      expect(events).toEqual(['start 2', 'end 2', 'start 1', 'end 1']);
      expect(tracker.overlaps).toEqual([]);
    });

    it('two claims racing for two tasks of one key, the second unable to see the first, start one of them', async () => {
      const tracker = new ExecutionTracker();
      const events: string[] = [];
      const holds = new Map([
        [1, new Gate()],
        [2, new Gate()],
      ]);
      const task = sequenced(tracker, events, holds);
      const first = await manager([task]);
      const table = first.options.table;
      const { db: otherDb } = pools.open(database.url!, 2);
      const second = createTaskManager({ db: otherDb, table, tasks: [task], logger: silentLogger });
      // The claim of #2 stops right after writing its row `running`, before it commits.
      await database.exec(`
        create function "${table}_hold"() returns trigger language plpgsql as $$
        begin perform pg_advisory_xact_lock(7301); return new; end $$;
        create trigger "${table}_hold" after update on "${table}" for each row
          when (new.arg->>'n' = '2' and new.status = 'running') execute function "${table}_hold"();`);
      // #1 is enqueued in a transaction that stays open; #2 is committed.
      const enqueuedInA = new Gate();
      const commitA = new Gate();
      let id1 = 0;
      const a = database.db.transaction(async (tx: any) => {
        id1 = await first.enqueue(task, { n: 1 }, { tx, sequenceKey: 'race' });
        enqueuedInA.open();
        await commitA.opened;
      });
      await enqueuedInA.opened;
      const [id2] = await database.db.transaction((tx: any) =>
        first.enqueueMany(task, [{ n: 2 }], { tx, sequenceKey: 'race' }),
      );
      const { pool: lockPool } = pools.open(database.url!, 1);
      const lock = await lockPool.connect();
      await lock.query('select pg_advisory_lock(7301)');
      const firstTicks = waitUntilCollector();
      const firstTick = first.tick({ budgetMs: 2000, waitUntil: firstTicks.waitUntil });
      await until('the claim of #2 waits in its trigger', async () => {
        const [row] = await database.query<{ waiting: number }>(
          `select count(*)::int as waiting from pg_locks where locktype = 'advisory' and objid = 7301 and not granted`,
        );
        return row!.waiting === 1;
      });
      // #1 becomes visible; a claim on the other instance sees it, and sees #2 still `initialized`.
      commitA.open();
      await a;
      const secondTicks = waitUntilCollector();
      const secondTick = second.tick({ budgetMs: 2000, waitUntil: secondTicks.waitUntil });
      // Give the second claim every chance to go wrong before the first commits.
      await Promise.race([secondTick, sleep(300)]);
      await lock.query('select pg_advisory_unlock(7301)');
      lock.release();
      await Promise.all([firstTick, secondTick]);
      await until('#2 started', () => events.includes('start 2'));
      // Whatever ran first, nothing else of the key may run before it ends.
      holds.get(2)!.open();
      holds.get(1)!.open();
      await Promise.all([firstTicks.settled(), secondTicks.settled()]);
      await first.tick({ budgetMs: 2000 });
      expect(tracker.overlaps).toEqual([]);
      expect(events).toEqual(['start 2', 'end 2', 'start 1', 'end 1']);
      expect((await rowsOf(table)).map((row) => [Number(row.id), row.status])).toEqual([
        [id1, 'succeeded'],
        [id2, 'succeeded'],
      ]);
    });

    it('an overdue initTimeoutSensitive task, which no scanner starts, does not hold up its key', async () => {
      const clock = manualClock();
      const ran: string[] = [];
      const reports: AbnormalTask[] = [];
      const stale = defineTask({
        key: 'stale',
        initTimeoutSensitive: true,
        handler: () => void ran.push('stale'),
      });
      const next = defineTask({ key: 'next', handler: () => void ran.push('next') });
      const m = await manager([stale, next], {
        clock: clock.now,
        initializedTimeout: 60_000,
        maintenanceInterval: 1000,
        checkCallback: (_logger, tasks) => void reports.push(...tasks),
      });
      const staleId = await database.db.transaction((tx: any) =>
        m.enqueue(stale, {}, { tx, sequenceKey: 'k' }),
      );
      await database.db.transaction((tx: any) => m.enqueue(next, {}, { tx, sequenceKey: 'k' }));
      clock.advance(61_000);
      expect(await m.tick({ budgetMs: 1000 })).toMatchObject({ claimed: 1, succeeded: 1 });
      expect(ran).toEqual(['next']);
      expect(reports.map((entry) => [entry.reason, entry.task.id])).toContainEqual([
        'initialized-too-long',
        staleId,
      ]);
    });
  });

  describe('an aborted handler keeps its slot and its key while it unwinds', () => {
    it('after a timeout, neither the next task of its key nor its retry starts before the handler settled', async () => {
      const events: string[] = [];
      const tracker = new ExecutionTracker();
      const task = defineTask({
        key: 'unwinds',
        timeoutMs: 150,
        retryTimes: 1,
        retryInterval: () => 0,
        handler: async ({ n }: { n: number }, ctx) => {
          tracker.start(ctx.task.id, 'instance', ctx.task.sequenceKey);
          events.push(`start ${n}.${ctx.attempt}`);
          try {
            if (n === 1 && ctx.attempt === 1) {
              // Heeds its signal, but takes a while to clean up after it aborted.
              await new Promise<void>((resolve) => ctx.signal.addEventListener('abort', () => resolve()));
              await sleep(200);
              throw ctx.signal.reason;
            }
          } finally {
            events.push(`end ${n}.${ctx.attempt}`);
            tracker.end(ctx.task.id, 'instance', ctx.task.sequenceKey);
          }
        },
      });
      const m = await manager([task], { concurrency: 1 });
      await database.db.transaction(async (tx: any) => {
        await m.enqueue(task, { n: 1 }, { tx, sequenceKey: 'k' });
        await m.enqueue(task, { n: 2 }, { tx, sequenceKey: 'k' });
      });
      while ((await m.tick({ budgetMs: 3000 })).claimed > 0);
      expect(tracker.overlaps).toEqual([]);
      expect(events).toEqual(['start 1.1', 'end 1.1', 'start 1.2', 'end 1.2', 'start 2.1', 'end 2.1']);
    });
  });

  describe('an attempt counts only if its handler started', () => {
    it('a tick that dies with claimed tasks in its queue fails none that never started (retryTimes 0)', async () => {
      const gated = gatedDb(database.db);
      const ran = new Set<number>();
      const never = new Promise<void>(() => {});
      let started = 0;
      const task = defineTask({
        key: 'queued',
        timeoutMs: 60_000,
        handler: async (_arg: unknown, ctx) => {
          if (gated.lost.length > 0 || dead) return never;
          ran.add(ctx.task.id);
          // The 40th start blocks its slot and the invocation dies: what waits in the queue never starts.
          if (++started === 40) {
            dead = true;
            gated.die();
            return never;
          }
        },
      });
      let dead = false;
      const m = await manager([task], { db: gated.db, concurrency: 1 });
      await database.db.transaction((tx: any) =>
        m.enqueueMany(
          task,
          Array.from({ length: 400 }, (_, n) => ({ n })),
          { tx },
        ),
      );
      void m.tick({ budgetMs: 30_000 });
      await until('the invocation died', () => dead);
      const claimedNeverStarted = (await rowsOf(m.options.table)).filter(
        (row) => row.status === 'running' && !ran.has(Number(row.id)),
      );
      // The queue held claimed tasks when the invocation died; the test means nothing otherwise.
      expect(claimedNeverStarted.length).toBeGreaterThan(0);
      // Another instance, its clock past every lease, rescues what the dead one held.
      const later = createTaskManager({
        db: database.db,
        table: m.options.table,
        tasks: [],
        logger: silentLogger,
        clock: () => new Date(Date.now() + 3_600_000),
      });
      expect((await later.tick({ budgetMs: 1000 })).rescued).toBeGreaterThan(0);
      const rows = await rowsOf(m.options.table);
      const neverStarted = rows.filter((row) => !ran.has(Number(row.id)));
      expect(neverStarted.filter((row) => row.status !== 'initialized' || row.attempts !== 0)).toEqual([]);
      expect(rows.filter((row) => row.status === 'failed' && !ran.has(Number(row.id)))).toEqual([]);
    });

    // Guarantee: a task whose start must be recorded before its handler runs (it lost a lease
    // unstarted before) and whose start record failed, committed or not, is given back unstarted:
    // its handler is not called and the attempt is not counted.
    it('a start record written first whose answer is lost gives the task back unstarted (retryTimes 0)', async () => {
      const gated = gatedDb(database.db);
      let calls = 0;
      const task = defineTask({
        key: 'strict',
        handler: () => {
          calls++;
        },
      });
      const m = await manager([task], { db: gated.db });
      await database.db.transaction((tx: any) => m.enqueue(task, {}, { tx }));
      // As after a lease that expired before its attempt's start was recorded.
      await database.query(
        `update "${m.options.table}" set unstarted_expiries = 1 where task_key = 'strict'`,
      );
      let lostAnswers = 0;
      gated.answered = (text) => {
        if (isClaim(text) || !text.includes('started as (') || lostAnswers > 0) return;
        lostAnswers++;
        throw new Error('Connection terminated unexpectedly');
      };
      // In one tick: the claim, the start record whose answer is lost, the release, and the claim
      // again, whose handler runs: one call, one counted attempt.
      await m.tick({ budgetMs: 2000 });
      expect(lostAnswers).toBe(1);
      expect(calls).toBe(1);
      expect(await rowsOf(m.options.table)).toEqual([
        expect.objectContaining({ status: 'succeeded', attempts: 1, started: true }),
      ]);
    });
  });

  describe('a passing fault costs no success', () => {
    // Guarantee: a success whose statement failed (before it reached the database, or after it
    // committed, its answer lost) is written by the next statement: the task ends succeeded, its
    // handler run once, instead of failing when its lease expires.
    for (const lost of ['before it was sent', 'after it committed'] as const) {
      it(`a success whose statement failed ${lost} is written by the next one`, async () => {
        const gated = gatedDb(database.db);
        let calls = 0;
        const task = defineTask({ key: 'quick', handler: () => void calls++ });
        const m = await manager([task], { db: gated.db });
        let faults = 0;
        const fault = (text: string) => {
          if (faults > 0 || !/\bdone as \(/.test(text)) return;
          faults++;
          throw new Error('Connection terminated unexpectedly');
        };
        if (lost === 'before it was sent') gated.hook = fault;
        else gated.answered = fault;
        // Started by its commit hook, whose success goes in a statement of its own.
        const hook = waitUntilCollector();
        await m.enqueue(task, {}, { waitUntil: hook.waitUntil });
        await hook.settled();
        expect(faults).toBe(1);
        expect(calls).toBe(1);
        expect(await rowsOf(m.options.table)).toEqual([
          expect.objectContaining({ status: 'succeeded', attempts: 1, started: true }),
        ]);
      });
    }
  });

  describe('a claim that keeps losing races costs nothing else', () => {
    it('a success riding with a claim refused again and again is written all the same', async () => {
      const gated = gatedDb(database.db);
      const hold = new Gate();
      let refusals = 0;
      const ran: number[] = [];
      const task = defineTask({
        key: 'rides',
        handler: async ({ n }: { n: number }) => {
          ran.push(n);
          if (n === 1) await hold.opened;
        },
      });
      const m = await manager([task], { db: gated.db, concurrency: 2 });
      await database.db.transaction((tx: any) => m.enqueueMany(task, [{ n: 1 }, { n: 2 }], { tx }));
      const ticking = waitUntilCollector();
      await m.tick({ budgetMs: 2000, waitUntil: ticking.waitUntil });
      await until('both started', () => ran.length === 2);
      // From now on every claim riding with a completion is refused as if it lost a sequence-key race.
      gated.hook = (text) => {
        if (!isClaim(text) || !/\bas lease\b/.test(text)) return;
        refusals++;
        throw Object.assign(
          new Error('duplicate key value violates unique constraint "g_sequence_running_idx"'),
          {
            code: '23505',
            constraint: 'g_sequence_running_idx',
          },
        );
      };
      await database.db.transaction((tx: any) => m.enqueueMany(task, [{ n: 3 }], { tx }));
      const tick = m.tick({ budgetMs: 1000 });
      hold.open();
      await tick;
      await ticking.settled();
      expect(refusals).toBeGreaterThanOrEqual(3);
      const rows = await rowsOf(m.options.table);
      expect(rows.slice(0, 2).map((row) => row.status)).toEqual(['succeeded', 'succeeded']);
    });
  });

  describe('stop means stop', () => {
    it('from the moment stop() is called, nothing more is claimed or started, on any path', async () => {
      const hold = new Gate();
      const ran: number[] = [];
      const task = defineTask({
        key: 'stopping',
        handler: async ({ n }: { n: number }) => {
          ran.push(n);
          if (n === 0) await hold.opened;
        },
      });
      const m = await manager([task], { scanInterval: 20, instantScanInterval: 10 });
      await database.db.transaction((tx: any) => m.enqueue(task, { n: 0 }, { tx }));
      m.start();
      await until('the runner started task 0', () => ran.includes(0));
      let stopped = false;
      const stopping = m.stop({ wait: true }).then(() => {
        stopped = true;
      });
      // Under steady traffic, committed tasks stay in the table for other instances.
      const alone = await m.enqueue(task, { n: 1 });
      const inTransaction = await m.transaction((tx) => m.enqueue(task, { n: 2 }, { tx }));
      const many = await m.enqueueMany(task, [{ n: 3 }, { n: 4 }]);
      await database.db.transaction((tx: any) => m.enqueue(task, { n: 5 }, { tx }));
      expect((await m.tick({ budgetMs: 200 })).claimed).toBe(0);
      await sleep(100);
      expect(stopped).toBe(false);
      hold.open();
      await within(5000, 'stop', stopping);
      expect(ran).toEqual([0]);
      const rows = await rowsOf(m.options.table);
      expect(rows.filter((row) => [alone, inTransaction, ...many].includes(Number(row.id)))).toEqual(
        [alone, inTransaction, ...many].map((id) => ({
          id: String(id),
          status: 'initialized',
          attempts: 0,
          started: false,
        })),
      );
      expect(rows.filter((row) => row.status === 'initialized')).toHaveLength(5);
    });

    it('a claim in flight when stop() is called starts nothing and gives its tasks back', async () => {
      const gated = gatedDb(database.db);
      const claimSent = new Gate();
      const claimGoes = new Gate();
      gated.hook = async (text) => {
        if (!isClaim(text)) return;
        claimSent.open();
        await claimGoes.opened;
      };
      const ran: number[] = [];
      const task = defineTask({ key: 'in-flight', handler: ({ n }: { n: number }) => void ran.push(n) });
      const m = await manager([task], { db: gated.db });
      await database.db.transaction((tx: any) => m.enqueueMany(task, [{ n: 1 }, { n: 2 }], { tx }));
      const tick = m.tick({ budgetMs: 2000 });
      await claimSent.opened;
      const stopping = m.stop();
      claimGoes.open();
      await Promise.all([tick, stopping]);
      expect(ran).toEqual([]);
      expect((await rowsOf(m.options.table)).map((row) => [row.status, row.attempts])).toEqual([
        ['initialized', 0],
        ['initialized', 0],
      ]);
    });
  });

  describe('stop means stop, even for a task whose schema validates asynchronously', () => {
    it('a handler whose argument was still being validated when stop() was called never starts', async () => {
      const validating = new Gate();
      const validated = new Gate();
      const ran: string[] = [];
      // A Standard Schema whose validate returns a promise, held (once enqueued) until the test lets it go.
      let holding = false;
      const schema = {
        '~standard': {
          version: 1 as const,
          vendor: 'test',
          validate: async (value: unknown) => {
            if (holding) {
              validating.open();
              await validated.opened;
            }
            return { value: value as { hold?: boolean } };
          },
        },
      };
      const task = defineTask({ key: 'slow-schema', schema, handler: () => void ran.push('ran') });
      const m = await manager([task]);
      await database.db.transaction((tx: any) => m.enqueueMany(task, [{}], { tx }));
      holding = true;
      const tick = m.tick({ budgetMs: 2000 });
      await validating.opened;
      const stopping = m.stop();
      validated.open();
      await Promise.all([tick, stopping]);
      expect(ran).toEqual([]);
      expect((await rowsOf(m.options.table)).map((row) => [row.status, row.attempts])).toEqual([
        ['initialized', 0],
      ]);
    });
  });

  describe('the cap is a cap', () => {
    it('a commit hook starting tasks while a tick’s claim is in flight never runs more than concurrency', async () => {
      const gated = gatedDb(database.db);
      const claimSent = new Gate();
      const claimGoes = new Gate();
      let held = false;
      gated.hook = async (text) => {
        if (!isClaim(text) || held) return;
        held = true;
        claimSent.open();
        await claimGoes.opened;
      };
      const hold = new Gate();
      let running = 0;
      let peak = 0;
      const task = defineTask({
        key: 'capped',
        handler: async () => {
          peak = Math.max(peak, ++running);
          await hold.opened;
          running--;
        },
      });
      const m = await manager([task], { db: gated.db, concurrency: 2 });
      await database.db.transaction((tx: any) => m.enqueueMany(task, [{}, {}, {}, {}], { tx }));
      const ticking = waitUntilCollector();
      const tick = m.tick({ budgetMs: 2000, waitUntil: ticking.waitUntil });
      await claimSent.opened;
      // Two commit hooks want slots while the tick's claim is on its way.
      const hook = waitUntilCollector();
      await m.enqueue(task, {}, { waitUntil: hook.waitUntil });
      await m.enqueue(task, {}, { waitUntil: hook.waitUntil });
      await sleep(50);
      claimGoes.open();
      await tick;
      await until('two handlers run', () => running === 2);
      await sleep(50);
      hold.open();
      await Promise.all([ticking.settled(), hook.settled()]);
      expect(peak).toBe(2);
      await m.tick({ budgetMs: 2000 });
      expect((await rowsOf(m.options.table)).every((row) => row.status === 'succeeded')).toBe(true);
    });
  });

  describe('an invocation deadline costs no attempt', () => {
    it('a tick does not claim a task whose timeout does not fit in what its invocation has left', async () => {
      const ran: string[] = [];
      const reports: AbnormalTask[] = [];
      const long = defineTask({ key: 'long', timeoutMs: 60_000, handler: () => void ran.push('long') });
      const short = defineTask({ key: 'short', timeoutMs: 1000, handler: () => void ran.push('short') });
      const m = await manager([long, short], {
        maintenanceInterval: 1000,
        checkCallback: (_logger, tasks) => void reports.push(...tasks),
      });
      const [longId] = await database.db.transaction((tx: any) => m.enqueueMany(long, [{}], { tx }));
      await database.db.transaction((tx: any) => m.enqueueMany(short, [{}], { tx }));
      const window = tickWindow({
        timeLeftMs: 10_000,
        safetyMarginMs: 1000,
        taskTimeoutMs: 1000,
        maxBudgetMs: 5000,
      });
      expect(await m.tick({ ...window })).toMatchObject({ claimed: 1, succeeded: 1 });
      expect(ran).toEqual(['short']);
      expect((await rowsOf(m.options.table)).map((row) => [row.status, row.attempts])).toEqual([
        ['initialized', 0],
        ['succeeded', 1],
      ]);
      expect(reports.map((entry) => [entry.reason, entry.task.id])).toEqual([
        ['exceeds-tick-window', longId],
      ]);
    });

    it('a claim that came back too late for a task’s timeout gives the task back unstarted', async () => {
      const gated = gatedDb(database.db);
      const claimGoes = new Gate();
      const claimSent = new Gate();
      gated.hook = async (text) => {
        if (!isClaim(text)) return;
        claimSent.open();
        await claimGoes.opened;
      };
      const ran: string[] = [];
      const task = defineTask({ key: 'late-claim', timeoutMs: 600, handler: () => void ran.push('ran') });
      const m = await manager([task], { db: gated.db });
      await database.db.transaction((tx: any) => m.enqueueMany(task, [{}], { tx }));
      // 1 s left: the task fits when the claim is sent, not once it came back 600 ms later.
      const tick = m.tick({ budgetMs: 900, deadline: Date.now() + 1000 });
      await claimSent.opened;
      await sleep(600);
      claimGoes.open();
      await tick;
      expect(ran).toEqual([]);
      expect((await rowsOf(m.options.table)).map((row) => [row.status, row.attempts])).toEqual([
        ['initialized', 0],
      ]);
    });

    it('a handler aborted by the invocation’s deadline gives its attempt back (retryTimes 0)', async () => {
      const deadline = new AbortController();
      const task = defineTask({
        key: 'cut-short',
        timeoutMs: 1000,
        handler: (_: unknown, ctx) =>
          new Promise<void>((_resolve, reject) => {
            ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason));
            deadline.abort();
          }),
      });
      const m = await manager([task]);
      const [id] = await database.db.transaction((tx: any) => m.enqueueMany(task, [{}], { tx }));
      const report = await m.tick({ budgetMs: 10_000, signal: deadline.signal });
      expect(report).toMatchObject({ claimed: 1, failed: 0, retried: 0 });
      expect(await m.getTask(id!)).toMatchObject({ status: 'initialized', attempts: 0 });
      expect((await m.getTask(id!))?.lastError).toContain('invocation reached its deadline');
    });
  });

  describe('maintenance misses nothing', () => {
    it('a failure committed after a round’s check began is reported by the next round', async () => {
      const reports: AbnormalTask[] = [];
      const clock = manualClock();
      const task = defineTask({
        key: 'late-failure',
        handler: () => {
          throw new Error('boom');
        },
      });
      const m = await manager([task], {
        clock: clock.now,
        maintenanceInterval: 1000,
        checkCallback: (_logger, tasks) => void reports.push(...tasks),
      });
      const table = m.options.table;
      // The first round runs before any failure.
      expect((await m.tick({ budgetMs: 500 })).maintenance).toBe(true);
      // The failure's statement stops right after writing its row `failed`, before it commits.
      await database.exec(`
        create function "${table}_hold"() returns trigger language plpgsql as $$
        begin perform pg_advisory_xact_lock(7302); return new; end $$;
        create trigger "${table}_hold" after update on "${table}" for each row
          when (new.status = 'failed') execute function "${table}_hold"();`);
      const { pool: lockPool } = pools.open(database.url!, 1);
      const lock = await lockPool.connect();
      await lock.query('select pg_advisory_lock(7302)');
      const [id] = await database.db.transaction((tx: any) => m.enqueueMany(task, [{}], { tx }));
      const failing = m.tick({ budgetMs: 2000 });
      await until('the failure waits in its trigger', async () => {
        const [row] = await database.query<{ waiting: number }>(
          `select count(*)::int as waiting from pg_locks where locktype = 'advisory' and objid = 7302 and not granted`,
        );
        return row!.waiting === 1;
      });
      clock.advance(1000);
      const other = createTaskManager({
        db: database.db,
        table,
        tasks: [],
        logger: silentLogger,
        clock: clock.now,
        maintenanceInterval: 1000,
        checkCallback: (_logger, tasks) => void reports.push(...tasks),
      });
      expect((await other.tick({ budgetMs: 500 })).maintenance).toBe(true);
      await lock.query('select pg_advisory_unlock(7302)');
      lock.release();
      await failing;
      clock.advance(1000);
      expect((await other.tick({ budgetMs: 500 })).maintenance).toBe(true);
      clock.advance(1000);
      expect((await other.tick({ budgetMs: 500 })).maintenance).toBe(true);
      expect(reports.map((entry) => [entry.reason, entry.task.id])).toEqual([['failed', id]]);
    });
  });

  describe('every failure is reported, once', () => {
    const failing = defineTask({
      key: 'fails',
      handler: () => {
        throw new Error('boom');
      },
    });

    it('more failures between two rounds than one page holds are all reported, in pages', async () => {
      const reported = new Map<number, number>();
      const clock = manualClock();
      const m = await manager([failing], {
        clock: clock.now,
        maintenanceInterval: 1000,
        checkCallback: (_logger, tasks) => {
          for (const { reason, task } of tasks)
            if (reason === 'failed') reported.set(task.id, (reported.get(task.id) ?? 0) + 1);
        },
      });
      await m.tick({ budgetMs: 500 });
      const ids = await database.db.transaction((tx: any) =>
        m.enqueueMany(
          failing,
          Array.from({ length: 1203 }, () => ({})),
          { tx },
        ),
      );
      while ((await m.tick({ budgetMs: 5000 })).claimed > 0);
      clock.advance(1000);
      expect((await m.tick({ budgetMs: 5000 })).maintenance).toBe(true);
      expect(ids.filter((id: number) => reported.get(id) !== 1)).toEqual([]);
      clock.advance(1000);
      await m.tick({ budgetMs: 5000 });
      expect([...reported.values()].every((count) => count === 1)).toBe(true);
    });

    it('when checkCallback throws, the next round reports those failures again', async () => {
      const calls: number[][] = [];
      let refuse = true;
      const clock = manualClock();
      const m = await manager([failing], {
        clock: clock.now,
        maintenanceInterval: 1000,
        checkCallback: (_logger, tasks) => {
          calls.push(tasks.filter((entry) => entry.reason === 'failed').map((entry) => entry.task.id));
          if (refuse) throw new Error('pager down');
        },
      });
      await m.tick({ budgetMs: 500 });
      const [id] = await database.db.transaction((tx: any) => m.enqueueMany(failing, [{}], { tx }));
      await m.tick({ budgetMs: 500 });
      clock.advance(1000);
      await m.tick({ budgetMs: 500 });
      refuse = false;
      clock.advance(1000);
      await m.tick({ budgetMs: 500 });
      clock.advance(1000);
      await m.tick({ budgetMs: 500 });
      expect(calls).toEqual([[id], [id]]);
    });

    it('a round still reporting keeps its lease: another instance takes no round meanwhile', async () => {
      const reported: number[] = [];
      const clock = manualClock();
      const gated = gatedDb(database.db);
      const checkGoes = new Gate();
      const checkSent = new Gate();
      const options = {
        clock: clock.now,
        maintenanceInterval: 1000,
        checkCallback: (_logger: unknown, tasks: AbnormalTask[]) => {
          for (const { reason, task } of tasks) if (reason === 'failed') reported.push(task.id);
        },
      };
      const slow = await manager([failing], { ...options, db: gated.db });
      const table = slow.options.table;
      const other = createTaskManager({
        db: database.db,
        table,
        tasks: [],
        logger: silentLogger,
        ...options,
      });
      await other.tick({ budgetMs: 500 });
      const ids = await database.db.transaction((tx: any) => slow.enqueueMany(failing, [{}, {}], { tx }));
      await other.tick({ budgetMs: 500 });
      while ((await slow.tick({ budgetMs: 2000 })).claimed > 0);
      clock.advance(1000);
      gated.hook = async (text) => {
        if (!text.includes("'failed' as reason")) return;
        checkSent.open();
        await checkGoes.opened;
      };
      const slowRound = slow.tick({ budgetMs: 2000 });
      await checkSent.opened;
      clock.advance(1000);
      expect((await other.tick({ budgetMs: 500 })).maintenance).toBe(false);
      checkGoes.open();
      expect((await slowRound).maintenance).toBe(true);
      clock.advance(1000);
      expect((await other.tick({ budgetMs: 500 })).maintenance).toBe(true);
      expect(reported.sort()).toEqual([...ids].sort());
    });
  });

  describe('delays count from the enqueue, not from the start of its transaction', () => {
    it('a delayMs given late in a long transaction runs that long after the enqueue', async () => {
      const task = defineTask({ key: 'delayed', handler: () => {} });
      const m = await manager([task]);
      const { id, enqueuedAt } = await database.db.transaction(async (tx: any) => {
        await sleep(300);
        const enqueuedAt = Date.now();
        return { id: await m.enqueue(task, {}, { tx, delayMs: 1000 }), enqueuedAt };
      });
      const row = await m.getTask(id);
      expect(Date.parse(row!.runAt) - enqueuedAt).toBeGreaterThan(900);
      expect(Date.parse(row!.createdAt)).toBeGreaterThanOrEqual(enqueuedAt - 50);
    });
  });

  describe('a dedupe key has one holder, whatever enqueues race for it', () => {
    /** Waits until a statement holding `text` is blocked on a lock of kind `event` (any kind without). */
    async function blockedOn(text: string, event?: string) {
      await until('an enqueue blocked on the open transaction', async () => {
        const [row] = await database.query<{ waiting: number }>(
          `select count(*)::int as waiting from pg_stat_activity
           where wait_event_type = 'Lock' and position($1 in query) > 0 and ($2::text is null or wait_event = $2)`,
          [text, event ?? null],
        );
        return row!.waiting > 0;
      });
    }

    /**
     * Transaction A releases the key of a finished holder and inserts a new task, and stays open;
     * enqueue B of the same key, sent meanwhile, waits for A and then finds A's task, or, if A
     * rolled back, releases the key itself and creates one.
     */
    async function raceForReleasedKey(end: 'commit' | 'rollback') {
      const task = defineTask({ key: 'deduped', handler: () => {} });
      const m = await manager([task]);
      const once = { dedupeKey: 'k', dedupeFor: 'unfinished' } as const;
      const holder = await m.enqueueOnce(task, {}, once);
      expect((await m.getTask(holder.id))?.status).toBe('succeeded');
      const insertedInA = new Gate();
      const endA = new Gate();
      const a = database.db
        .transaction(async (tx: any) => {
          const result = await m.enqueueOnce(task, { by: 'a' }, { ...once, tx });
          insertedInA.open();
          await endA.opened;
          if (end === 'rollback') tx.rollback();
          return result;
        })
        .catch((error: unknown) => error);
      await insertedInA.opened;
      const hook = waitUntilCollector();
      const b = m.enqueueOnce(task, { by: 'b' }, { ...once, waitUntil: hook.waitUntil });
      await blockedOn('pg_advisory_xact_lock', 'advisory');
      endA.open();
      const [inA, inB] = await Promise.all([a, b]);
      await hook.settled();
      return { m, holder, inA: inA as { id: number; created: boolean }, inB };
    }

    it('of two enqueues releasing a finished holder’s key, the one that waited finds the other’s task', async () => {
      const { m, holder, inA, inB } = await raceForReleasedKey('commit');
      expect(inA.created).toBe(true);
      expect(inB).toEqual({ id: inA.id, created: false });
      const rows = await database.query<{ id: string; dedupe_key: string | null; released: string | null }>(
        `select id::text, dedupe_key, released_dedupe_key as released from "${m.options.table}" order by id`,
      );
      expect(rows).toEqual([
        { id: String(holder.id), dedupe_key: null, released: 'k' },
        { id: String(inA.id), dedupe_key: 'k', released: null },
      ]);
    });

    it('when the releasing transaction rolls back, the enqueue that waited releases the key and creates the task', async () => {
      const { m, holder, inB } = await raceForReleasedKey('rollback');
      expect(inB.created).toBe(true);
      expect(await m.getTask(holder.id)).toMatchObject({ dedupeKey: null, releasedDedupeKey: 'k' });
      expect(await m.getTask(inB.id)).toMatchObject({
        dedupeKey: 'k',
        arg: { by: 'b' },
        status: 'succeeded',
      });
      expect(await rowsOf(m.options.table)).toHaveLength(2);
    });

    // Guarantee: under { ms }, the tasks of one key are created at least ms apart, and contention
    // on a key that lapses at once costs waits, never an error.
    it('enqueues racing on a key whose window is a millisecond create tasks a millisecond apart, without errors', async () => {
      const task = defineTask({ key: 'windowed-storm', handler: () => {} });
      const m = await manager([task]);
      const results = await Promise.all(
        Array.from({ length: 6 }, async () => {
          const seen: boolean[] = [];
          for (let n = 0; n < 25; n++) {
            const { created } = await m.enqueueOnce(
              task,
              {},
              { dedupeKey: 'k', dedupeFor: { ms: 1 }, delayMs: 60_000 },
            );
            seen.push(created);
          }
          return seen;
        }),
      );
      const created = results.flat().filter(Boolean).length;
      const rows = await database.query<{ gap_ms: number | null; holds: boolean }>(
        `select extract(epoch from created_at - lag(created_at) over (order by created_at)) * 1000 as gap_ms,
           dedupe_key is not null as holds
         from "${m.options.table}" order by created_at`,
      );
      expect(rows).toHaveLength(created);
      expect(rows.filter((row) => row.holds)).toHaveLength(1);
      for (const row of rows.slice(1)) expect(Number(row.gap_ms)).toBeGreaterThanOrEqual(1);
    });

    // Guarantee: an enqueue that throws leaves the key where it was: its release is undone.
    it('an enqueue whose insert fails after it released the key leaves the key with its holder', async () => {
      const task = defineTask({ key: 'refused-insert', handler: () => {} });
      const m = await manager([task]);
      const table = m.options.table;
      const holder = await m.enqueueOnce(task, {}, { dedupeKey: 'k', dedupeFor: 'unfinished' });
      await database.exec(`
        create function "${table}_refuse"() returns trigger language plpgsql as $$
          begin
            -- Only once the key was released: the insert that would take it fails.
            if new.arg ? 'refuse' and exists (select 1 from "${table}" where released_dedupe_key = new.dedupe_key)
              then raise exception 'refused by the test'; end if;
            return new;
          end $$;
        create trigger refuse before insert on "${table}" for each row execute function "${table}_refuse"();`);
      const refused = await m
        .enqueueOnce(task, { refuse: true }, { dedupeKey: 'k', dedupeFor: 'unfinished' })
        .catch((error: unknown) => error);
      expect(errorCauses(refused).join(' | ')).toContain('refused by the test');
      await database.db.transaction(async (tx: any) => {
        const caught = await m
          .enqueueOnce(task, { refuse: true }, { dedupeKey: 'k', dedupeFor: 'unfinished', tx })
          .catch((error: Error) => error);
        expect(caught).toBeInstanceOf(Error);
      });
      expect(await m.getTask(holder.id)).toMatchObject({ dedupeKey: 'k', releasedDedupeKey: null });
      expect(await rowsOf(table)).toHaveLength(1);
    });

    // Guarantee: a task's window starts when it could take the key, not when its enqueue was sent:
    // an enqueue that waited for another transaction reads the clock once it holds the key's turn.
    it('an enqueue that waited for a rolled-back holder counts its window from after the wait', async () => {
      const clock = manualClock(Date.parse('2030-01-01T12:00:00Z'));
      const task = defineTask({ key: 'windowed-wait', handler: () => {} });
      const m = await manager([task], { clock: clock.now });
      const once = { dedupeKey: 'k', dedupeFor: { ms: 5_000 }, delayMs: 60_000 } as const;
      const insertedInB = new Gate();
      const endB = new Gate();
      const b = database.db
        .transaction(async (tx: any) => {
          await m.enqueueOnce(task, {}, { ...once, tx });
          insertedInB.open();
          await endB.opened;
          tx.rollback();
        })
        .catch(() => 'rolled back');
      await insertedInB.opened;
      const c = m.enqueueOnce(task, { by: 'c' }, once);
      await blockedOn('pg_advisory_xact_lock', 'advisory');
      clock.advance(10_000);
      endB.open();
      expect(await b).toBe('rolled back');
      const inC = await c;
      expect(inC.created).toBe(true);
      expect(await m.enqueueOnce(task, { by: 'd' }, once)).toEqual({ id: inC.id, created: false });
      expect(Date.parse((await m.getTask(inC.id))!.createdAt)).toBe(clock.ms);
    });

    it('eight enqueues of one key at once, each on its own connection, create one task', async () => {
      const task = defineTask({ key: 'deduped-many', handler: () => {} });
      const m = await manager([task]);
      for (const dedupeFor of ['stored', 'unfinished', { ms: 60_000 }] as const) {
        const results = await Promise.all(
          Array.from({ length: 8 }, (_, n) =>
            m.enqueueOnce(
              task,
              { n },
              { dedupeKey: `k-${JSON.stringify(dedupeFor)}`, dedupeFor, delayMs: 60_000 },
            ),
          ),
        );
        const created = results.filter((result) => result.created);
        expect(created).toHaveLength(1);
        expect(new Set(results.map((result) => result.id))).toEqual(new Set([created[0]!.id]));
      }
      expect(await rowsOf(m.options.table)).toHaveLength(3);
    });
  });
});
