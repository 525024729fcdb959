/** Running tasks: retries, timeouts, control signals, nested tasks, sequence keys, context, cleanSucceeded. */
import { describe, expect, it } from 'vitest';
import { CancelTask, defineTask, FailTask, RetryAfter, type TaskContext } from '../../src/index.js';
import { prepareTask } from '../../src/prepare.js';
import { insertTask } from '../../src/storage/index.js';
import { type DriverUnderTest, itNeeding } from './driver.js';
import { eventually, gate, type Harness, manualClock, waitUntilCollector } from './harness.js';

export function executionSemantics(h: () => Harness, driver: DriverUnderTest) {
  const itWithSql = itNeeding(driver, 'sql');
  describe('running tasks', () => {
    it('gives the handler its row, attempt number, signal, logger and restored context', async () => {
      let seen: TaskContext | undefined;
      const task = defineTask({
        key: 'ctx',
        handler: (_arg: unknown, ctx) => {
          seen = ctx;
        },
      });
      const manager = await h().manager([task]);
      const id = await manager.enqueue(task, { a: 1 }, { context: { traceId: 't-1' } });
      expect(seen?.task).toMatchObject({ id, key: 'ctx', status: 'running', arg: { a: 1 } });
      expect(seen?.attempt).toBe(1);
      expect(seen?.signal).toBeInstanceOf(AbortSignal);
      expect(seen?.context).toEqual({ traceId: 't-1' });
      expect(typeof seen?.logger.info).toBe('function');
    });

    it('stores the context through ctxMarshaler, the task’s own overriding the manager’s', async () => {
      const contexts: unknown[] = [];
      const managerMarshaler = {
        marshal: (c: { traceId: string }) => `trace=${c.traceId}`,
        unmarshal: (s: string) => ({ traceId: s.slice('trace='.length), via: 'manager' }),
      };
      const plain = defineTask({
        key: 'marshaled',
        handler: (_: unknown, ctx) => void contexts.push(ctx.context),
      });
      const own = defineTask({
        key: 'own-marshaler',
        ctxMarshaler: { marshal: () => 'fixed', unmarshal: (s: string) => ({ own: s }) },
        handler: (_: unknown, ctx) => void contexts.push(ctx.context),
      });
      const manager = await h().manager([plain, own], { ctxMarshaler: managerMarshaler });
      const id = await manager.enqueue(plain, {}, { context: { traceId: 'abc' } });
      await manager.enqueue(own, {}, { context: { traceId: 'ignored' } });
      expect((await manager.getTask(id))?.context).toBe('trace=abc');
      expect(contexts).toEqual([{ traceId: 'abc', via: 'manager' }, { own: 'fixed' }]);
    });

    it('retries after retryInterval (database clock) and succeeds on a later attempt', async () => {
      const clock = manualClock();
      let attempts = 0;
      const intervals: number[] = [];
      const task = defineTask({
        key: 'retry',
        retryTimes: 2,
        retryInterval: (n) => {
          intervals.push(n);
          return 60_000 * n;
        },
        handler: () => {
          attempts++;
          if (attempts < 3) throw new Error(`flaky ${attempts}`);
        },
      });
      const manager = await h().manager([task], { clock: clock.now });
      const id = await manager.enqueue(task, {});
      let row = await manager.getTask(id);
      expect(row).toMatchObject({ status: 'initialized', attempts: 1 });
      expect(row?.lastError).toContain('flaky 1');
      expect(Date.parse(row!.runAt)).toBe(clock.ms + 60_000);
      expect((await manager.tick({ budgetMs: 2000 })).claimed).toBe(0);
      clock.advance(60_001);
      expect(await manager.tick({ budgetMs: 2000 })).toMatchObject({ claimed: 1, retried: 1 });
      expect(Date.parse((await manager.getTask(id))!.runAt)).toBe(clock.ms + 120_000);
      clock.advance(120_001);
      expect(await manager.tick({ budgetMs: 2000 })).toMatchObject({ claimed: 1, succeeded: 1 });
      row = await manager.getTask(id);
      expect(row).toMatchObject({ status: 'succeeded', attempts: 3 });
      expect(intervals).toEqual([1, 2]);
    });

    it('fails the task with the last error once retryTimes are spent', async () => {
      let attempts = 0;
      const task = defineTask({
        key: 'exhausted',
        retryTimes: 1,
        retryInterval: () => 0,
        handler: () => {
          throw new Error(`broken ${++attempts}`);
        },
      });
      const manager = await h().manager([task]);
      const id = await manager.enqueue(task, {});
      expect((await manager.getTask(id))?.status).toBe('initialized');
      expect(await manager.tick({ budgetMs: 2000 })).toMatchObject({ claimed: 1, failed: 1 });
      const row = await manager.getTask(id);
      expect(row).toMatchObject({ status: 'failed', attempts: 2, maxAttempts: 2 });
      expect(row?.lastError).toContain('attempt 2: Error: broken 2');
      expect(row?.finishedAt).not.toBeNull();
    });

    it('aborts the signal at the per-attempt timeout and fails the attempt, even if the handler never settles', async () => {
      let abortedWith: unknown;
      const task = defineTask({
        key: 'timeout',
        timeoutMs: 50,
        handler: (_: unknown, ctx) =>
          new Promise(() => {
            ctx.signal.addEventListener('abort', () => {
              abortedWith = ctx.signal.reason;
            });
          }),
      });
      const manager = await h().manager([task]);
      const id = await manager.enqueue(task, {});
      const row = await manager.getTask(id);
      expect(row?.status).toBe('failed');
      expect(row?.lastError).toContain('timed out after 50 ms');
      expect(String(abortedWith)).toContain('timed out after 50 ms');
    });

    it('CancelTask cancels and FailTask fails at once despite retries left; RetryAfter reschedules after its delay', async () => {
      const clock = manualClock();
      let retryRuns = 0;
      const cancel = defineTask({
        key: 'cancel',
        retryTimes: 5,
        handler: () => {
          throw new CancelTask('customer is gone');
        },
      });
      const fail = defineTask({
        key: 'fail-now',
        retryTimes: 5,
        handler: () => {
          throw new FailTask('card number is malformed');
        },
      });
      const later = defineTask({
        key: 'retry-after',
        retryTimes: 1,
        handler: () => {
          if (++retryRuns === 1) throw new RetryAfter(30_000, 'rate limited');
        },
      });
      const manager = await h().manager([cancel, fail, later], { clock: clock.now });
      const cancelled = await manager.enqueue(cancel, {});
      const failed = await manager.enqueue(fail, {});
      const delayed = await manager.enqueue(later, {});
      expect(await manager.getTask(cancelled)).toMatchObject({ status: 'cancelled', attempts: 1 });
      expect((await manager.getTask(cancelled))?.lastError).toContain('customer is gone');
      expect(await manager.getTask(failed)).toMatchObject({ status: 'failed', attempts: 1 });
      expect((await manager.getTask(failed))?.lastError).toContain('card number is malformed');
      const row = await manager.getTask(delayed);
      expect(row).toMatchObject({ status: 'initialized', attempts: 1 });
      expect(Date.parse(row!.runAt)).toBe(clock.ms + 30_000);
      clock.advance(30_001);
      await manager.tick({ budgetMs: 2000 });
      expect(await manager.getTask(delayed)).toMatchObject({ status: 'succeeded', attempts: 2 });
    });

    it('cancelling a running task aborts its signal within a heartbeat and ends it cancelled, its late success discarded', async () => {
      const aborted: string[] = [];
      const started = gate();
      const task = defineTask({
        key: 'cancel-running',
        timeoutMs: 10_000,
        handler: (arg: { heeds: boolean }, ctx) =>
          new Promise<void>((resolve, reject) => {
            started.open();
            ctx.signal.addEventListener('abort', () => {
              aborted.push(String(ctx.signal.reason));
              // One handler gives up at once; the other finishes its work anyway and returns.
              if (arg.heeds) reject(ctx.signal.reason);
              else setTimeout(resolve, 20);
            });
          }),
      });
      const manager = await h().manager([task], { heartbeatInterval: 50 });
      for (const heeds of [true, false]) {
        const collector = waitUntilCollector();
        aborted.length = 0;
        const id = await manager.enqueue(task, { heeds }, { waitUntil: collector.waitUntil });
        await started.opened;
        await eventually(async () => ((await manager.getTask(id))?.status === 'running' ? true : undefined));
        expect(await manager.cancelTask(id, 'the customer withdrew')).toBe(true);
        expect(await manager.cancelTask(id, 'again')).toBe(false);
        await collector.settle();
        expect(aborted).toEqual(['AttemptAborted: task cancelled: the customer withdrew']);
        const row = await manager.getTask(id);
        expect(row).toMatchObject({
          status: 'cancelled',
          lastError: 'the customer withdrew',
          cancelReason: 'the customer withdrew',
        });
        // Whether the handler threw or returned, its attempt ended cancelled.
        expect(row?.history).toEqual([
          {
            attempt: 1,
            startedAt: row!.startedAt,
            endedAt: row!.finishedAt,
            outcome: 'cancelled',
            error: 'the customer withdrew',
          },
        ]);
      }
    });

    it('cleanSucceeded deletes the row on success, and keeps it on failure', async () => {
      const ok = defineTask({ key: 'clean-ok', cleanSucceeded: true, handler: () => {} });
      const bad = defineTask({
        key: 'clean-bad',
        cleanSucceeded: true,
        handler: () => {
          throw new Error('kept for inspection');
        },
      });
      const manager = await h().manager([ok, bad]);
      const gone = await manager.enqueue(ok, {});
      const kept = await manager.enqueue(bad, {});
      expect(await manager.getTask(gone)).toBeNull();
      expect((await manager.getTask(kept))?.status).toBe('failed');
    });
  });

  describe('nested tasks', () => {
    it('commits children with the parent’s success only, once, and starts them after it in submission order', async () => {
      const events: string[] = [];
      let parentRuns = 0;
      const child = defineTask({
        key: 'child',
        handler: (arg: { n: number }) => void events.push(`child ${arg.n}`),
      });
      const parent = defineTask({
        key: 'parent',
        retryTimes: 1,
        retryInterval: () => 0,
        // Taken out of ctx, enqueue still works on its own.
        handler: async (_: unknown, { enqueue }) => {
          parentRuns++;
          enqueue(child, { n: 1 });
          enqueue(child, { n: 2 });
          enqueue(child, { n: 3 });
          if (parentRuns === 1) throw new Error('parent fails after enqueueing');
          events.push('parent done');
        },
      });
      const manager = await h().manager([parent, child]);
      const id = await manager.enqueue(parent, {});
      expect(await h().rows(manager)).toHaveLength(1);
      expect(events).toEqual([]);
      await manager.tick({ budgetMs: 5000 });
      expect(events[0]).toBe('parent done');
      expect(events.slice(1).sort()).toEqual(['child 1', 'child 2', 'child 3']);
      const children = (await h().rows(manager)).filter((row) => row.task_key === 'child');
      expect(children).toHaveLength(3);
      expect(children.map((row) => Number(row.parent_id))).toEqual([id, id, id]);
      expect(children.map((row) => (row.arg as { n: number }).n)).toEqual([1, 2, 3]);
      const started = children.map((row) => new Date(row.started_at as string).getTime());
      expect([...started].sort((a, b) => a - b)).toEqual(started);
    });

    it('creates no children when the parent finally fails', async () => {
      const child = defineTask({ key: 'orphan', handler: () => {} });
      const parent = defineTask({
        key: 'doomed',
        handler: (_: unknown, ctx) => {
          ctx.enqueue(child, {});
          throw new Error('no');
        },
      });
      const manager = await h().manager([parent, child]);
      await manager.enqueue(parent, {});
      const rows = await h().rows(manager);
      expect(rows.map((row) => [row.task_key, row.status])).toEqual([['doomed', 'failed']]);
    });
  });

  describe('sequence keys', () => {
    it('runs tasks sharing a sequence key one at a time, in enqueue order, while others run alongside', async () => {
      const log: string[] = [];
      let active = 0;
      let maxActive = 0;
      const step = defineTask({
        key: 'step',
        handler: async (arg: { n: number }) => {
          maxActive = Math.max(maxActive, ++active);
          log.push(`start ${arg.n}`);
          await new Promise((resolve) => setTimeout(resolve, 15));
          log.push(`end ${arg.n}`);
          active--;
        },
      });
      let free = 0;
      const unrelated = defineTask({ key: 'free', handler: () => void free++ });
      const manager = await h().manager([step, unrelated], { concurrency: 10 });
      await h().enqueueForScanner(manager, step, [{ n: 1 }, { n: 2 }, { n: 3 }, { n: 4 }], {
        sequenceKey: 'account-1',
      });
      await h().enqueueForScanner(manager, unrelated, [{}, {}]);
      const collector = waitUntilCollector();
      await manager.tick({ budgetMs: 10_000 });
      await collector.settle();
      expect(log).toEqual(['start 1', 'end 1', 'start 2', 'end 2', 'start 3', 'end 3', 'start 4', 'end 4']);
      expect(maxActive).toBe(1);
      expect(free).toBe(2);
    });
  });

  describe('leases', () => {
    it('rescues a task whose lease expired and fences out the stale executor’s late result', async () => {
      const clock = manualClock();
      const hold = gate();
      const runs: number[] = [];
      const task = defineTask({
        key: 'leased',
        retryTimes: 2,
        timeoutMs: 10_000,
        handler: async (_: unknown, ctx) => {
          runs.push(ctx.attempt);
          if (ctx.attempt === 1) await hold.opened;
        },
      });
      const stale = await h().manager([task], { clock: clock.now, leaseMargin: 1000 });
      const fresh = await h().manager([task], { clock: clock.now, table: stale.options.table });
      const [id] = await h().enqueueForScanner(stale, task, [{}]);
      const collector = waitUntilCollector();
      expect((await stale.tick({ budgetMs: 2000, waitUntil: collector.waitUntil })).claimed).toBe(1);
      expect((await stale.getTask(id!))?.status).toBe('running');
      // The attempt counts once its start is recorded, right after the handler started.
      await eventually(async () => ((await stale.getTask(id!))?.startedAt ? true : undefined));
      clock.advance(11_001);
      const report = await fresh.tick({ budgetMs: 2000 });
      expect(report).toMatchObject({ rescued: 1, claimed: 1, succeeded: 1 });
      hold.open();
      await collector.settle();
      const row = await fresh.getTask(id!);
      expect(row).toMatchObject({ status: 'succeeded', attempts: 2, leaseToken: null });
      expect(row?.lastError).toContain('lease expired during attempt 1');
      expect(runs).toEqual([1, 2]);
      // The expired attempt is in the history; the success is the row's own.
      expect(row?.history).toEqual([
        {
          attempt: 1,
          startedAt: expect.any(String),
          endedAt: clock.now().toISOString(),
          outcome: 'expired',
          error: expect.stringContaining('lease expired during attempt 1'),
        },
      ]);
    });

    itWithSql(
      'gives back the attempt of a task its insert claimed when the invocation ended before recording it',
      async () => {
        const clock = manualClock();
        const ran: number[] = [];
        // One attempt only: counting the lost one would fail the task without ever running it.
        const task = defineTask({
          key: 'hook-never-ran',
          timeoutMs: 1000,
          handler: (_: unknown, ctx) => void ran.push(ctx.attempt),
        });
        const manager = await h().manager([task], { clock: clock.now, leaseMargin: 100 });
        // What a commit hook's insert writes, by an invocation that then ended before starting it.
        const prepared = await prepareTask(task, {}, {}, manager.options);
        const storage = { db: h().database.db, table: manager.options.table, clock: clock.now };
        const { id, claimed } = await insertTask(storage, prepared, {
          leaseMs: 100,
          heartbeatLeaseMs: 15_000,
        });
        expect(claimed).toMatchObject({ status: 'running', attempts: 1, started_at: null });
        clock.advance(1101);
        expect(await manager.tick({ budgetMs: 2000 })).toMatchObject({
          rescued: 1,
          claimed: 1,
          succeeded: 1,
        });
        expect(ran).toEqual([1]);
        const row = await manager.getTask(id);
        expect(row).toMatchObject({ status: 'succeeded', attempts: 1 });
        expect(row?.lastError).toContain('before the start of an attempt was recorded');
        // A claim whose handler never started is no attempt: it leaves no entry.
        expect(row?.history).toEqual([]);
      },
    );

    it('fails a rescued task that has no attempts left', async () => {
      const clock = manualClock();
      const hold = gate();
      const task = defineTask({ key: 'last-chance', timeoutMs: 1000, handler: () => hold.opened });
      const manager = await h().manager([task], { clock: clock.now, leaseMargin: 100 });
      const [id] = await h().enqueueForScanner(manager, task, [{}]);
      const collector = waitUntilCollector();
      await manager.tick({ budgetMs: 2000, waitUntil: collector.waitUntil });
      await eventually(async () => ((await manager.getTask(id!))?.startedAt ? true : undefined));
      clock.advance(1101);
      const other = await h().manager([task], { clock: clock.now, table: manager.options.table });
      expect(await other.tick({ budgetMs: 2000 })).toMatchObject({ rescued: 1, claimed: 0 });
      hold.open();
      await collector.settle();
      expect(await other.getTask(id!)).toMatchObject({ status: 'failed', attempts: 1 });
    });
  });
}
