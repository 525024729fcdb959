/** tick, maintenance (abnormal check, cleanup, once per interval), initTimeoutSensitive and the runner. */
import { describe, expect, it } from 'vitest';
import { type AbnormalTask, defineTask, isGtaError, type TaskRow } from '../../src/index.js';
import { type DriverUnderTest, itNeeding } from './driver.js';
import {
  eventually,
  gate,
  type Harness,
  manualClock,
  sameOrLater,
  sleep,
  waitUntilCollector,
} from './harness.js';

export function scanningSemantics(h: () => Harness, driver: DriverUnderTest) {
  const itWithSql = itNeeding(driver, 'sql');
  describe('tick', () => {
    it('never runs more than its concurrency cap at once', async () => {
      let running = 0;
      let maxRunning = 0;
      const task = defineTask({
        key: 'tick-cap',
        handler: async () => {
          maxRunning = Math.max(maxRunning, ++running);
          await sleep(10);
          running--;
        },
      });
      const manager = await h().manager([task], { concurrency: 10 });
      await h().enqueueForScanner(
        manager,
        task,
        Array.from({ length: 9 }, () => ({})),
      );
      const report = await manager.tick({ budgetMs: 10_000, concurrency: 2 });
      expect(report).toMatchObject({ claimed: 9, succeeded: 9 });
      expect(maxRunning).toBe(2);
    });

    it('claims higher priorities first, then earlier run times, then enqueue order', async () => {
      const order: string[] = [];
      const run = (arg: { n: string }) => void order.push(arg.n);
      const low = defineTask({ key: 'prio-low', handler: run });
      const high = defineTask({ key: 'prio-high', priority: 5, handler: run });
      const manager = await h().manager([low, high], { concurrency: 1 });
      await h().enqueueForScanner(manager, low, [{ n: 'low 1' }, { n: 'low 2' }]);
      await h().enqueueForScanner(manager, high, [{ n: 'high (the definition’s 5)' }]);
      await h().enqueueForScanner(manager, low, [{ n: 'urgent (9 given at enqueue)' }], { priority: 9 });
      await h().enqueueForScanner(manager, low, [{ n: 'last (-1)' }], { priority: -1 });
      expect((await manager.tick({ budgetMs: 10_000, concurrency: 1 })).succeeded).toBe(5);
      expect(order).toEqual([
        'urgent (9 given at enqueue)',
        'high (the definition’s 5)',
        'low 1',
        'low 2',
        'last (-1)',
      ]);
      expect((await manager.listTasks({ key: 'prio-low' })).map((task) => task.priority)).toEqual([
        -1, 9, 0, 0,
      ]);
    });

    it('gives each handler its task row exactly as the claim stored it', async () => {
      // The claim returns only the columns it did not write; the rest of ctx.task is filled in
      // from what it wrote, and must read the same as the row in the table.
      const seen: { inHandler: unknown; stored: unknown }[] = [];
      const task = defineTask({
        key: 'tick-row',
        retryTimes: 2,
        timeoutMs: 4321,
        handler: async (_arg: unknown, ctx) => {
          seen.push({ inHandler: ctx.task, stored: await manager.getTask(ctx.task.id) });
        },
      });
      const manager = await h().manager([task]);
      const ids = await h().enqueueForScanner(manager, task, [{ n: 1 }, { n: 2, text: 'é "quoted"' }]);
      await manager.tick({ budgetMs: 10_000, concurrency: 1 });
      expect(seen.map(({ inHandler }) => (inHandler as { id: number }).id).sort()).toEqual([...ids].sort());
      for (const { inHandler, stored } of seen) {
        expect(inHandler).toMatchObject({ status: 'running', attempts: 1, maxAttempts: 3, timeoutMs: 4321 });
        expect(inHandler).toEqual({ ...(stored as object), startedAt: null });
        // The claim records no start; the executor does once the handler started, maybe already.
        expect(sameOrLater((stored as TaskRow).startedAt, (stored as TaskRow).createdAt)).toBe(true);
      }
    });

    it('stops claiming when its budget is spent and leaves the rest for the next tick', async () => {
      const task = defineTask({ key: 'tick-budget', handler: () => sleep(60) });
      const manager = await h().manager([task]);
      await h().enqueueForScanner(
        manager,
        task,
        Array.from({ length: 10 }, () => ({})),
      );
      const first = await manager.tick({ budgetMs: 100, concurrency: 1 });
      expect(first.claimed).toBeGreaterThan(0);
      expect(first.claimed).toBeLessThan(10);
      const rest = await manager.tick({ budgetMs: 10_000, concurrency: 10 });
      expect(first.claimed + rest.claimed).toBe(10);
      expect((await manager.stats()).byStatus.succeeded).toBe(10);
    });

    it('hands running tasks to waitUntil and returns once nothing more is due', async () => {
      const hold = gate();
      const task = defineTask({ key: 'tick-handoff', handler: () => hold.opened });
      const manager = await h().manager([task]);
      const [id] = await h().enqueueForScanner(manager, task, [{}]);
      const collector = waitUntilCollector();
      const report = await manager.tick({ budgetMs: 60_000, waitUntil: collector.waitUntil });
      expect(report).toMatchObject({ claimed: 1, succeeded: 0 });
      expect(collector.handed).toHaveLength(1);
      hold.open();
      await collector.settle();
      expect((await manager.getTask(id!))?.status).toBe('succeeded');
    });

    it('aborting the tick’s signal stops claiming and aborts running handlers (the attempt is given back)', async () => {
      const deadline = new AbortController();
      let sawAbort = false;
      const task = defineTask({
        key: 'tick-deadline',
        retryTimes: 1,
        retryInterval: () => 60_000,
        handler: (_: unknown, ctx) =>
          new Promise<void>((_resolve, reject) => {
            ctx.signal.addEventListener('abort', () => {
              sawAbort = true;
              reject(ctx.signal.reason);
            });
            deadline.abort();
          }),
      });
      const manager = await h().manager([task]);
      const [id] = await h().enqueueForScanner(manager, task, [{}, {}]);
      const report = await manager.tick({ budgetMs: 10_000, concurrency: 1, signal: deadline.signal });
      expect(report).toMatchObject({ claimed: 1, retried: 0, failed: 0 });
      expect(sawAbort).toBe(true);
      // Cut short by the invocation, not by a fault of its own: due again at once, attempt not counted.
      const row = await manager.getTask(id!);
      expect(row).toMatchObject({ status: 'initialized', attempts: 0 });
      expect(row?.lastError).toContain('invocation reached its deadline');
    });
  });

  describe('maintenance', () => {
    itWithSql('runs at most once per interval across instances, keyed by name', async () => {
      const clock = manualClock();
      const task = defineTask({ key: 'maint', handler: () => {} });
      const first = await h().manager([task], { clock: clock.now, maintenanceInterval: 60_000 });
      const second = await h().manager([task], { clock: clock.now, table: first.options.table });
      expect((await first.tick({ budgetMs: 1000 })).maintenance).toBe(true);
      expect((await second.tick({ budgetMs: 1000 })).maintenance).toBe(false);
      expect((await first.tick({ budgetMs: 1000 })).maintenance).toBe(false);
      clock.advance(60_000);
      expect((await second.tick({ budgetMs: 1000 })).maintenance).toBe(true);
      const builtins = await h().database.query(
        `select task_key from "${first.options.table}" where task_key like 'gta:%'`,
      );
      expect(builtins).toEqual([{ task_key: 'gta:maintenance' }]);
      expect(await first.queryUnsuccessfulTasks()).toEqual([]);
      expect(await first.listTasks()).toEqual([]);
      // Rounds update the built-in row in place: they consume no task ids.
      const before = await first.enqueue(task, {});
      clock.advance(60_000);
      expect((await first.tick({ budgetMs: 1000 })).maintenance).toBe(true);
      expect(await first.enqueue(task, {})).toBe(before + 1);
    });

    it('reports initialized-too-long, running-too-long and newly failed tasks to checkCallback', async () => {
      const clock = manualClock();
      const reports: AbnormalTask[][] = [];
      const hold = gate();
      const waiting = defineTask({ key: 'waits', handler: () => {} });
      const slow = defineTask({ key: 'slow', timeoutMs: 10_000, handler: () => hold.opened });
      const broken = defineTask({
        key: 'broken',
        handler: () => {
          throw new Error('always');
        },
      });
      const options = {
        clock: clock.now,
        initializedTimeout: 60_000,
        runningTimeout: 20_000,
        taskTimeout: 10_000,
        leaseMargin: 100_000,
        maintenanceInterval: 1000,
        checkCallback: (_logger: unknown, tasks: AbnormalTask[]) => void reports.push(tasks),
      };
      const scanner = await h().manager([slow, broken], options);
      const failedId = await scanner.enqueue(broken, {});
      // Enqueued by a service the scanner does not know the key of: it waits, and is reported.
      const producer = await h().manager([waiting], { table: scanner.options.table });
      const [waitingId] = await h().enqueueForScanner(producer, waiting, [{}]);
      clock.advance(1);
      const [slowId] = await h().enqueueForScanner(scanner, slow, [{}]);
      const collector = waitUntilCollector();
      await scanner.tick({ budgetMs: 1000, waitUntil: collector.waitUntil });
      expect(reports.flat().map((entry) => [entry.reason, entry.task.id])).toEqual([['failed', failedId]]);
      // Its start is recorded just after its handler started, by the clock of then.
      await eventually(async () => ((await scanner.getTask(slowId!))?.startedAt ? true : undefined));
      clock.advance(61_000);
      const report = await scanner.tick({ budgetMs: 1000 });
      hold.open();
      await collector.settle();
      expect(report.abnormal).toBe(2);
      expect(reports[1]!.map((entry) => [entry.reason, entry.task.id])).toEqual([
        ['initialized-too-long', waitingId],
        ['running-too-long', slowId],
      ]);
    });

    it('deletes succeeded tasks older than storageTimeout, and nothing else', async () => {
      const clock = manualClock();
      const ok = defineTask({ key: 'old-ok', handler: () => {} });
      const bad = defineTask({
        key: 'old-bad',
        handler: () => {
          throw new Error('kept');
        },
      });
      const manager = await h().manager([ok, bad], {
        clock: clock.now,
        storageTimeout: 3_600_000,
        maintenanceInterval: 1000,
      });
      const succeeded = await manager.enqueue(ok, {});
      const failed = await manager.enqueue(bad, {});
      expect((await manager.tick({ budgetMs: 1000 })).cleaned).toBe(0);
      clock.advance(3_600_001);
      const fresh = await manager.enqueue(ok, {});
      expect((await manager.tick({ budgetMs: 1000 })).cleaned).toBe(1);
      expect(await manager.getTask(succeeded)).toBeNull();
      expect((await manager.getTask(failed))?.status).toBe('failed');
      expect((await manager.getTask(fresh))?.status).toBe('succeeded');
    });

    it('initTimeoutSensitive tasks due too long are only reported, never run by the scanner', async () => {
      const clock = manualClock();
      const reports: AbnormalTask[] = [];
      let sensitiveRuns = 0;
      let plainRuns = 0;
      const sensitive = defineTask({
        key: 'sensitive',
        initTimeoutSensitive: true,
        handler: () => void sensitiveRuns++,
      });
      const plain = defineTask({ key: 'insensitive', handler: () => void plainRuns++ });
      const manager = await h().manager([sensitive, plain], {
        clock: clock.now,
        initializedTimeout: 60_000,
        maintenanceInterval: 1000,
        checkCallback: (_logger, tasks) => void reports.push(...tasks),
      });
      const [late] = await h().enqueueForScanner(manager, sensitive, [{}]);
      const [overdue] = await h().enqueueForScanner(manager, plain, [{}]);
      clock.advance(60_001);
      const report = await manager.tick({ budgetMs: 2000 });
      expect(report).toMatchObject({ claimed: 1, succeeded: 1 });
      expect([sensitiveRuns, plainRuns]).toEqual([0, 1]);
      // Both were due too long when maintenance ran; only the insensitive one was then run.
      expect(reports.map((entry) => [entry.reason, entry.task.id])).toEqual([
        ['initialized-too-long', late],
        ['initialized-too-long', overdue],
      ]);
      expect((await manager.getTask(late!))?.status).toBe('initialized');
      const onTime = await manager.enqueue(sensitive, {});
      expect((await manager.getTask(onTime))?.status).toBe('succeeded');
    });
  });

  describe('the long-lived runner', () => {
    it('picks up tasks the commit hook did not start, scanning every scanInterval', async () => {
      const task = defineTask({ key: 'runner', handler: () => {} });
      const manager = await h().manager([task], { scanInterval: 30, instantScanInterval: 5 });
      const ids = await h().enqueueForScanner(manager, task, [{}, {}, {}]);
      manager.start();
      manager.start();
      await eventually(async () =>
        (await manager.stats()).byStatus.succeeded === ids.length ? true : undefined,
      );
      await manager.stop();
      expect(() => manager.start()).toThrowError(expect.objectContaining({ code: 'GTA_MANAGER_STOPPED' }));
    });

    it('stop({ wait }) lets running tasks finish', async () => {
      const hold = gate();
      const task = defineTask({ key: 'graceful', handler: () => hold.opened });
      const manager = await h().manager([task], { scanInterval: 20, instantScanInterval: 5 });
      const [id] = await h().enqueueForScanner(manager, task, [{}]);
      manager.start();
      await eventually(async () => ((await manager.getTask(id!))?.status === 'running' ? true : undefined));
      const stopped = manager.stop({ wait: true });
      await sleep(30);
      expect((await manager.getTask(id!))?.status).toBe('running');
      hold.open();
      await stopped;
      expect((await manager.getTask(id!))?.status).toBe('succeeded');
    });

    it('after waitTimeout, unfinished tasks are aborted and go back to initialized without using an attempt', async () => {
      let aborted = false;
      const task = defineTask({
        key: 'released',
        handler: (_: unknown, ctx) =>
          new Promise(() => {
            ctx.signal.addEventListener('abort', () => {
              aborted = true;
            });
          }),
      });
      const manager = await h().manager([task], {
        scanInterval: 20,
        instantScanInterval: 5,
        waitTimeout: 50,
      });
      const [id] = await h().enqueueForScanner(manager, task, [{}]);
      manager.start();
      await eventually(async () => ((await manager.getTask(id!))?.status === 'running' ? true : undefined));
      await manager.stop({ wait: true });
      expect(aborted).toBe(true);
      const row = await manager.getTask(id!);
      expect(row).toMatchObject({ status: 'initialized', attempts: 0, leaseToken: null });
      expect(row?.lastError).toContain('released unfinished by a stopping manager');
      expect(row?.history).toEqual([
        expect.objectContaining({ attempt: 1, outcome: 'released', error: row!.lastError }),
      ]);
    });
  });

  describe('operator queries', () => {
    it('forceRerunTasks moves only tasks in the given status back to initialized, with fresh attempts', async () => {
      let fail = true;
      const task = defineTask({
        key: 'rerun',
        handler: () => {
          if (fail) throw new Error('first time');
        },
      });
      const manager = await h().manager([task]);
      const id = await manager.enqueue(task, {});
      expect((await manager.getTask(id))?.status).toBe('failed');
      expect(await manager.forceRerunTasks([id], 'succeeded')).toBe(0);
      expect(await manager.forceRerunTasks([id], 'failed')).toBe(1);
      expect(await manager.getTask(id)).toMatchObject({ status: 'initialized', attempts: 0 });
      fail = false;
      await manager.tick({ budgetMs: 2000 });
      expect(await manager.getTask(id)).toMatchObject({ status: 'succeeded', attempts: 1 });
      await expect(manager.forceRerunTasks([id], 'done' as never)).rejects.toSatisfy((e) =>
        isGtaError(e, 'GTA_INVALID_ARGUMENT'),
      );
    });

    // Guarantee: a task's history holds every attempt that ended, oldest first, and a forced rerun
    // keeps it (a rerun of a succeeded task adds that success, which the row alone showed).
    it('keeps every ended attempt in the task’s history, across forced reruns', async () => {
      const errors = ['first', 'second'];
      const task = defineTask({
        key: 'history',
        retryTimes: 1,
        retryInterval: () => 0,
        handler: () => {
          const error = errors.shift();
          if (error) throw new Error(error);
        },
      });
      const manager = await h().manager([task]);
      const [id] = await h().enqueueForScanner(manager, task, [{}]);
      while ((await manager.tick({ budgetMs: 2000 })).claimed > 0);
      const failed = await manager.getTask(id!);
      expect(failed).toMatchObject({ status: 'failed', attempts: 2 });
      const firstLine = (error: string | null) => error?.split('\n')[0];
      expect(
        failed?.history.map(({ attempt, outcome, error }) => [attempt, outcome, firstLine(error)]),
      ).toEqual([
        [1, 'retried', 'attempt 1: Error: first'],
        [2, 'failed', 'attempt 2: Error: second'],
      ]);
      for (const entry of failed!.history) {
        expect(Date.parse(entry.endedAt)).toBeGreaterThanOrEqual(Date.parse(entry.startedAt!));
      }

      expect(await manager.forceRerunTasks([id!], 'failed')).toBe(1);
      await manager.tick({ budgetMs: 2000 });
      const succeeded = await manager.getTask(id!);
      expect(succeeded).toMatchObject({ status: 'succeeded', attempts: 1 });
      expect(succeeded?.history).toEqual(failed?.history);

      expect(await manager.forceRerunTasks([id!], 'succeeded')).toBe(1);
      const rerun = await manager.getTask(id!);
      expect(rerun?.history.slice(0, 2)).toEqual(failed?.history);
      expect(rerun?.history[2]).toEqual({
        attempt: 1,
        startedAt: succeeded!.startedAt,
        endedAt: succeeded!.finishedAt,
        outcome: 'succeeded',
        error: null,
      });
    });

    it('a forced rerun of a running task keeps the attempt it cut off in the history', async () => {
      const hold = gate();
      let calls = 0;
      const task = defineTask({
        key: 'history-fenced',
        handler: async () => {
          if (++calls === 1) await hold.opened;
        },
      });
      const manager = await h().manager([task]);
      const [id] = await h().enqueueForScanner(manager, task, [{}]);
      const collector = waitUntilCollector();
      await manager.tick({ budgetMs: 2000, waitUntil: collector.waitUntil });
      await eventually(async () => ((await manager.getTask(id!))?.startedAt ? true : undefined));
      const running = await manager.getTask(id!);
      expect(await manager.forceRerunTasks([id!], 'running')).toBe(1);
      // The cut-off attempt's late success finds its lease gone and writes nothing.
      hold.open();
      await collector.settle();
      await manager.tick({ budgetMs: 2000 });
      const row = await manager.getTask(id!);
      expect(calls).toBe(2);
      expect(row).toMatchObject({ status: 'succeeded', attempts: 1 });
      expect(row?.history).toEqual([
        {
          attempt: 1,
          startedAt: running!.startedAt,
          endedAt: expect.any(String),
          outcome: 'released',
          error: 'released by a forced rerun while it ran; its result is discarded',
        },
      ]);
    });

    it('keeps the last 25 attempts of a task that fails again and again', async () => {
      const task = defineTask({
        key: 'history-bound',
        retryTimes: 29,
        retryInterval: () => 0,
        handler: (_: unknown, ctx) => {
          throw new Error(`try ${ctx.attempt}`);
        },
      });
      const manager = await h().manager([task]);
      const [id] = await h().enqueueForScanner(manager, task, [{}]);
      while ((await manager.tick({ budgetMs: 5000 })).claimed > 0);
      const row = await manager.getTask(id!);
      expect(row).toMatchObject({ status: 'failed', attempts: 30 });
      expect(row?.history.map((entry) => entry.attempt)).toEqual(Array.from({ length: 25 }, (_, n) => n + 6));
      expect(row?.history.at(-1)).toMatchObject({
        outcome: 'failed',
        error: expect.stringMatching(/^attempt 30: Error: try 30\n/),
      });
    });

    it('queryUnsuccessfulTasks lists every task not succeeded, by id, with offset paging', async () => {
      const ok = defineTask({ key: 'q-ok', handler: () => {} });
      const bad = defineTask({
        key: 'q-bad',
        handler: () => {
          throw new Error('x');
        },
      });
      const manager = await h().manager([ok, bad]);
      const failedA = await manager.enqueue(bad, {});
      await manager.enqueue(ok, {});
      const [waiting] = await h().enqueueForScanner(manager, ok, [{}]);
      const failedB = await manager.enqueue(bad, {});
      await manager.tick({ budgetMs: 1, concurrency: 1, signal: AbortSignal.abort() });
      const all = await manager.queryUnsuccessfulTasks({ limit: 10 });
      expect(all.map((task) => task.id)).toEqual([failedA, waiting, failedB]);
      const page = await manager.queryUnsuccessfulTasks({ limit: 2, offset: 1 });
      expect(page.map((task) => task.id)).toEqual([waiting, failedB]);
    });

    it('abnormalTasks and throughput report what the dashboard shows', async () => {
      const clock = manualClock(Date.UTC(2026, 10, 25, 12, 0, 30));
      const ok = defineTask({ key: 'tp-ok', handler: () => {} });
      const bad = defineTask({
        key: 'tp-bad',
        handler: () => {
          throw new Error('no');
        },
      });
      const manager = await h().manager([ok, bad], { clock: clock.now, initializedTimeout: 60_000 });
      await manager.enqueue(ok, {});
      const failed = await manager.enqueue(bad, {});
      clock.advance(60_000);
      await manager.enqueue(ok, {});
      await manager.enqueue(ok, {});
      const [waiting] = await h().enqueueForScanner(manager, ok, [{}]);
      clock.advance(60_001);
      expect(await manager.throughput({ minutes: 5 })).toEqual([
        { minute: '2026-11-25T12:00:00.000Z', succeeded: 1, failed: 1 },
        { minute: '2026-11-25T12:01:00.000Z', succeeded: 2, failed: 0 },
      ]);
      expect(await manager.throughput({ minutes: 1 })).toEqual([]);
      const abnormal = await manager.abnormalTasks();
      expect(abnormal.map((entry) => [entry.reason, entry.task.id])).toEqual([
        ['initialized-too-long', waiting],
        ['failed', failed],
      ]);
      await expect(manager.throughput({ minutes: 0 })).rejects.toThrow('minutes must be a whole number');
    });

    it('reports overdue initTimeoutSensitive tasks however many other tasks are overdue', async () => {
      const clock = manualClock();
      const plain = defineTask({ key: 'crowd', handler: () => {} });
      const sensitive = defineTask({ key: 'crowded-out', initTimeoutSensitive: true, handler: () => {} });
      const manager = await h().manager([plain, sensitive], { clock: clock.now, initializedTimeout: 60_000 });
      // Older than the sensitive one, so a single oldest-first list of two would hold only these.
      await h().enqueueForScanner(manager, plain, [{}, {}, {}]);
      clock.advance(1000);
      const [late] = await h().enqueueForScanner(manager, sensitive, [{}]);
      clock.advance(60_001);
      const abnormal = await manager.abnormalTasks({ limit: 2 });
      const overdue = abnormal.filter((entry) => entry.reason === 'initialized-too-long');
      // At most `limit` per reason, initTimeoutSensitive ones first.
      expect(overdue.map((entry) => entry.task.key)).toEqual(['crowded-out', 'crowd']);
      expect(overdue[0]?.task.id).toBe(late);
    });

    it('getTask, listTasks filters with keyset pagination, cancelTask and stats', async () => {
      const clock = manualClock();
      const a = defineTask({ key: 'list-a', handler: () => {} });
      const b = defineTask({ key: 'list-b', handler: () => {} });
      const manager = await h().manager([a, b], { clock: clock.now });
      const first = await manager.enqueue(a, {});
      clock.advance(1000);
      const middle = clock.now();
      const [second, third] = await h().enqueueForScanner(manager, b, [{}, {}]);
      expect(await manager.getTask(999_999)).toBeNull();
      expect((await manager.listTasks()).map((task) => task.id)).toEqual([third, second, first]);
      expect((await manager.listTasks({ key: 'list-b' })).map((task) => task.id)).toEqual([third, second]);
      expect((await manager.listTasks({ status: 'succeeded' })).map((task) => task.id)).toEqual([first]);
      expect((await manager.listTasks({ status: ['initialized'], limit: 1 })).map((task) => task.id)).toEqual(
        [third],
      );
      expect((await manager.listTasks({ beforeId: third!, limit: 1 })).map((task) => task.id)).toEqual([
        second,
      ]);
      expect((await manager.listTasks({ createdAfter: middle })).map((task) => task.id)).toEqual([
        third,
        second,
      ]);
      expect((await manager.listTasks({ createdBefore: middle })).map((task) => task.id)).toEqual([first]);
      clock.advance(5000);
      expect(await manager.cancelTask(third!, 'not needed')).toBe(true);
      expect(await manager.cancelTask(first, 'too late')).toBe(false);
      expect(await manager.getTask(third!)).toMatchObject({ status: 'cancelled', lastError: 'not needed' });
      const stats = await manager.stats();
      expect(stats.byStatus).toEqual({ initialized: 1, running: 0, succeeded: 1, failed: 0, cancelled: 1 });
      expect(stats.byKey['list-b']).toEqual({
        initialized: 1,
        running: 0,
        succeeded: 0,
        failed: 0,
        cancelled: 1,
      });
      expect(stats.oldestInitializedAgeMs).toBe(5000);
      expect(JSON.parse(JSON.stringify(await manager.getTask(first)))).toEqual(await manager.getTask(first));
    });
  });
}
