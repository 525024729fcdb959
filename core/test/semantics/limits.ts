/** Concurrency and rate limits per group (SPEC §13), within one instance; across processes see test/limits. */
import { describe, expect, it } from 'vitest';
import { defineTask, ERROR_CODES, isGtaError } from '../../src/index.js';
import { type DriverUnderTest, itNeeding } from './driver.js';
import { gate, type Harness, manualClock, sleep, waitUntilCollector } from './harness.js';

/** Tracks how many handlers run at once, overall and per group. */
function overlapMeter() {
  const running = new Map<string, number>();
  const most = new Map<string, number>();
  return {
    most,
    async run(group: string, work: () => Promise<unknown>) {
      running.set(group, (running.get(group) ?? 0) + 1);
      most.set(group, Math.max(most.get(group) ?? 0, running.get(group)!));
      try {
        await work();
      } finally {
        running.set(group, running.get(group)! - 1);
      }
    },
  };
}

export function groupLimitSemantics(h: () => Harness, driver: DriverUnderTest) {
  describe('concurrency limits per group', () => {
    // Guarantee: a claim never starts a task whose group already has `limit` tasks running.
    it('runs at most the limit of a group at once, each keyed group on its own', async () => {
      const meter = overlapMeter();
      const task = defineTask({
        key: 'limit-keyed',
        concurrency: { limit: 2, key: (arg: { tenant: string }) => arg.tenant },
        handler: (arg: { tenant: string }) => meter.run(arg.tenant, () => sleep(15)),
      });
      const manager = await h().manager([task], { concurrency: 10 });
      const args = ['a', 'b', 'a', 'b', 'a', 'b', 'a', 'a'].map((tenant) => ({ tenant }));
      await h().enqueueForScanner(manager, task, args);
      const report = await manager.tick({ budgetMs: 10_000, concurrency: 10 });
      expect(report).toMatchObject({ claimed: 8, succeeded: 8 });
      expect(meter.most.get('a')).toBe(2);
      expect(meter.most.get('b')).toBe(2);
    });

    it('without a key, the task’s tasks form one group', async () => {
      const meter = overlapMeter();
      const task = defineTask({
        key: 'limit-whole',
        concurrency: { limit: 3 },
        handler: () => meter.run('all', () => sleep(10)),
      });
      const manager = await h().manager([task], { concurrency: 10 });
      const [id] = await h().enqueueForScanner(
        manager,
        task,
        Array.from({ length: 9 }, () => ({})),
      );
      expect(await manager.getTask(id!)).toMatchObject({ concurrencyKey: '', rateKey: null });
      expect((await manager.tick({ budgetMs: 10_000, concurrency: 10 })).succeeded).toBe(9);
      expect(meter.most.get('all')).toBe(3);
    });

    it('a full group does not hold back other due tasks, even those claimed after its backlog', async () => {
      const hold = gate();
      const limited = defineTask({
        key: 'limit-full',
        priority: 5,
        concurrency: { limit: 1 },
        handler: () => hold.opened,
      });
      let freeRan = false;
      const free = defineTask({
        key: 'limit-free',
        handler: () => {
          freeRan = true;
        },
      });
      const manager = await h().manager([limited, free], { concurrency: 10 });
      await h().enqueueForScanner(
        manager,
        limited,
        Array.from({ length: 40 }, () => ({})),
      );
      await h().enqueueForScanner(manager, free, [{}]);
      const collector = waitUntilCollector();
      const report = await manager.tick({
        budgetMs: 10_000,
        concurrency: 10,
        waitUntil: collector.waitUntil,
      });
      // One of the group runs (held at the gate); the unlimited task behind its backlog ran too.
      expect(report.claimed).toBe(2);
      await sleep(20);
      expect(freeRan).toBe(true);
      expect((await manager.stats()).byStatus).toMatchObject({ running: 1, initialized: 39 });
      hold.open();
      await collector.settle();
      expect((await manager.tick({ budgetMs: 10_000, concurrency: 10 })).succeeded).toBe(39);
    });

    it('a task enqueued for the commit hook waits its turn too: the hook claims it, within the limit', async () => {
      const meter = overlapMeter();
      const task = defineTask({
        key: 'limit-hook',
        concurrency: { limit: 2 },
        handler: () => meter.run('all', () => sleep(20)),
      });
      const manager = await h().manager([task], { concurrency: 10 });
      const collector = waitUntilCollector();
      await h().enqueueWithCommitHook(
        manager,
        task,
        Array.from({ length: 5 }, () => ({})),
        { waitUntil: collector.waitUntil },
      );
      await collector.settle();
      // The hook started two; the other three wait for a scanner.
      expect((await manager.stats()).byStatus).toMatchObject({ succeeded: 2, initialized: 3 });
      expect((await manager.tick({ budgetMs: 10_000, concurrency: 10 })).succeeded).toBe(3);
      expect(meter.most.get('all')).toBe(2);
    });

    it('frees the slot when a run fails or is retried', async () => {
      let calls = 0;
      const task = defineTask({
        key: 'limit-ends',
        retryTimes: 1,
        retryInterval: () => 0,
        concurrency: { limit: 1 },
        handler: () => {
          calls++;
          throw new Error('no luck');
        },
      });
      const manager = await h().manager([task], { concurrency: 10 });
      await h().enqueueForScanner(manager, task, [{}, {}, {}]);
      const report = await manager.tick({ budgetMs: 10_000, concurrency: 10 });
      // Each of three tasks ran twice (a retry frees the slot as a failure does).
      expect(report.failed).toBe(3);
      expect(calls).toBe(6);
    });
  });

  describe('rate limits per group', () => {
    // Guarantee: at most `limit` starts of a group in any window of `periodMs`; the tasks over it
    // wait initialized, due when the group's first slot frees.
    it('starts at most the limit per period; the rest wait in the table until a slot frees', async () => {
      const clock = manualClock();
      const started: number[] = [];
      const task = defineTask({
        key: 'rate-basic',
        rateLimit: { limit: 3, periodMs: 60_000 },
        handler: () => void started.push(clock.ms),
      });
      const manager = await h().manager([task], { clock: clock.now, concurrency: 10 });
      const ids = await h().enqueueForScanner(
        manager,
        task,
        Array.from({ length: 7 }, () => ({})),
      );
      expect((await manager.tick({ budgetMs: 10_000, concurrency: 10 })).succeeded).toBe(3);
      const waiting = (await Promise.all(ids.map((id) => manager.getTask(id)))).filter(
        (row) => row!.status === 'initialized',
      );
      expect(waiting).toHaveLength(4);
      for (const row of waiting) expect(Date.parse(row!.runAt)).toBe(clock.ms + 60_000);
      clock.advance(59_999);
      expect((await manager.tick({ budgetMs: 10_000, concurrency: 10 })).claimed).toBe(0);
      clock.advance(1);
      expect((await manager.tick({ budgetMs: 10_000, concurrency: 10 })).succeeded).toBe(3);
      clock.advance(60_000);
      expect((await manager.tick({ budgetMs: 10_000, concurrency: 10 })).succeeded).toBe(1);
      expect(started).toHaveLength(7);
    });

    // Guarantee: a rate group with no free slot holds back no other task: its due tasks are not
    // candidates of a claim, however many there are and whatever their priority.
    it('a spent rate group with a large high-priority backlog does not hold back other tasks', async () => {
      const clock = manualClock();
      const rated = defineTask({
        key: 'rate-backlog',
        priority: 5,
        rateLimit: { limit: 1, periodMs: 60_000 },
        handler: () => {},
      });
      const other = defineTask({ key: 'rate-bystander', handler: () => {} });
      const manager = await h().manager([rated, other], { clock: clock.now, concurrency: 1 });
      await h().enqueueForScanner(manager, rated, [{}]);
      expect((await manager.tick({ concurrency: 1 })).succeeded).toBe(1); // the group is spent
      await h().enqueueForScanner(
        manager,
        rated,
        Array.from({ length: 300 }, () => ({})),
      );
      const [bystander] = await h().enqueueForScanner(manager, other, [{}]);
      // A budget this small gives one claim of one task: it must be the bystander's.
      await manager.tick({ concurrency: 1, budgetMs: 1 });
      expect((await manager.getTask(bystander!))?.status).toBe('succeeded');
    });

    it('keyed groups have their own windows, and a retry is a start of its own', async () => {
      const clock = manualClock();
      let calls = 0;
      const task = defineTask({
        key: 'rate-keyed',
        retryTimes: 3,
        retryInterval: () => 0,
        rateLimit: { limit: 2, periodMs: 1000, key: (arg: { account: string }) => arg.account },
        handler: () => {
          calls++;
          throw new Error('again');
        },
      });
      const manager = await h().manager([task], { clock: clock.now, concurrency: 10 });
      const [first] = await h().enqueueForScanner(manager, task, [{ account: 'x' }, { account: 'y' }]);
      expect(await manager.getTask(first!)).toMatchObject({ rateKey: 'x', concurrencyKey: null });
      await manager.tick({ budgetMs: 10_000, concurrency: 10 });
      // Each account's task ran twice (its first run and one retry), then waited for the window.
      expect(calls).toBe(4);
      clock.advance(1000);
      await manager.tick({ budgetMs: 10_000, concurrency: 10 });
      expect(calls).toBe(8);
      expect((await manager.stats()).byStatus.failed).toBe(2);
    });
  });

  describe('rate limits: housekeeping', () => {
    itNeeding(driver, 'sql')('a maintenance round deletes rate slots free for a minute or more', async () => {
      const clock = manualClock();
      const task = defineTask({
        key: 'rate-clean',
        rateLimit: { limit: 2, periodMs: 1000 },
        handler: () => {},
      });
      const manager = await h().manager([task], { clock: clock.now, maintenanceInterval: 60_000 });
      await h().enqueueForScanner(manager, task, [{}, {}]);
      await manager.tick({ budgetMs: 10_000 });
      const slots = () => h().database.query(`select slot from "${manager.options.table}_rate_slots"`);
      expect(await slots()).toHaveLength(2);
      clock.advance(60_500);
      await manager.tick({ budgetMs: 10_000 });
      // Free for 59.5 s: kept.
      expect(await slots()).toHaveLength(2);
      clock.advance(60_000);
      await manager.tick({ budgetMs: 10_000 });
      expect(await slots()).toHaveLength(0);
    });
  });

  describe('limits: bad input', () => {
    it('refuses a definition with an unusable limit', () => {
      const handler = () => {};
      const bad = [
        { concurrency: { limit: 0 } },
        { concurrency: { limit: 1.5 } },
        { concurrency: { limit: 10_001 } },
        { concurrency: { limit: 2, key: 'tenant' } },
        { rateLimit: { limit: 5 } },
        { rateLimit: { limit: 5, periodMs: 0 } },
        { rateLimit: { limit: 5, periodMs: 8 * 24 * 3600_000 } },
        { rateLimit: null },
      ];
      for (const limits of bad) {
        let thrown: unknown;
        try {
          defineTask({ key: 'bad-limit', handler, ...(limits as object) });
        } catch (error) {
          thrown = error;
        }
        expect(isGtaError(thrown) && thrown.code, JSON.stringify(limits)).toBe(ERROR_CODES.invalidOption);
      }
    });

    it('refuses an enqueue whose group key throws or is not a usable string, and writes nothing', async () => {
      const task = defineTask({
        key: 'bad-group-key',
        concurrency: {
          limit: 1,
          key: (arg: { tenant: unknown }) => {
            if (arg.tenant === 'boom') throw new Error('no tenant');
            // A NUL cannot be stored in a text column.
            if (arg.tenant === 'nul') return 'x\u0000';
            return arg.tenant as string;
          },
        },
        handler: () => {},
      });
      const manager = await h().manager([task]);
      for (const tenant of ['boom', 42, '', 'x'.repeat(256), 'nul', undefined, null]) {
        let thrown: unknown;
        try {
          await manager.enqueue(task, { tenant });
        } catch (error) {
          thrown = error;
        }
        expect(isGtaError(thrown) && thrown.code, String(tenant)).toBe(ERROR_CODES.invalidArgument);
      }
      expect(await h().rows(manager)).toEqual([]);
    });
  });
}
