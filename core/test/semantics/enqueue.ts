/** Enqueue in its three forms, the commit hook, savepoints, enqueueMany, dedupe keys and dry run. */
import { sql } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import { QUEUE_WAIT_MS } from '../../src/executor.js';
import { defineTask, type TaskRow } from '../../src/index.js';
import { type DriverUnderTest, itNeeding } from './driver.js';
import { eventually, gate, type Harness, manualClock, sameOrLater, waitUntilCollector } from './harness.js';

export function enqueueSemantics(h: () => Harness, driver: DriverUnderTest) {
  // These tests are about interactive transactions themselves; a driver without them has the
  // db.batch form instead (enqueueStatement), tested in its own suite.
  const itInTransactions = itNeeding(driver, 'interactiveTransactions');
  // A test that reaches the database with SQL of its own: the task table's rows as a transaction
  // sees them, tables of its own, a transaction gta did not open.
  const itInTransactionsWithSql = itNeeding(driver, 'interactiveTransactions', 'sql');

  describe('enqueue and the commit hook', () => {
    it('plain enqueue commits the task on its own and runs it before returning when no waitUntil is given', async () => {
      const seen: unknown[] = [];
      const task = defineTask({ key: 'plain', handler: (arg: { n: number }) => void seen.push(arg.n) });
      const manager = await h().manager([task]);
      const id = await manager.enqueue(task, { n: 1 });
      expect(seen).toEqual([1]);
      expect(await manager.getTask(id)).toMatchObject({
        id,
        status: 'succeeded',
        attempts: 1,
        arg: { n: 1 },
      });
    });

    it('plain enqueue with waitUntil returns at once and hands the run to waitUntil', async () => {
      const hold = gate();
      const task = defineTask({ key: 'handed', handler: () => hold.opened });
      const manager = await h().manager([task]);
      const collector = waitUntilCollector();
      const id = await manager.enqueue(task, {}, { waitUntil: collector.waitUntil });
      expect(collector.handed).toHaveLength(1);
      await eventually(async () => ((await manager.getTask(id))?.status === 'running' ? true : undefined));
      hold.open();
      await collector.settle();
      expect((await manager.getTask(id))?.status).toBe('succeeded');
    });

    itInTransactionsWithSql(
      'a task enqueued in manager.transaction runs after the commit and sees the committed writes',
      async () => {
        const { database } = h();
        await database.exec('create table if not exists orders_enqueue (id int primary key)');
        const seenRows: number[] = [];
        const task = defineTask({
          key: 'after-commit',
          handler: async (arg: { orderId: number }) => {
            const rows = await database.query('select id from orders_enqueue where id = $1', [arg.orderId]);
            seenRows.push(rows.length);
          },
        });
        const manager = await h().manager([task]);
        let runsBeforeCommit = -1;
        const id = await manager.transaction(async (tx) => {
          await tx.execute(sql`insert into orders_enqueue (id) values (7)`);
          const taskId = await manager.enqueue(task, { orderId: 7 }, { tx });
          runsBeforeCommit = seenRows.length;
          return taskId;
        });
        expect(runsBeforeCommit).toBe(0);
        expect(seenRows).toEqual([1]);
        expect((await manager.getTask(id))?.status).toBe('succeeded');
      },
    );

    itInTransactionsWithSql(
      'the insert in manager.transaction claims the task, so after the commit it starts on that claim',
      async () => {
        const ranOn: { attempt: number; lease: string | null; startedAt: string | null }[] = [];
        const task = defineTask({
          key: 'claimed-by-insert',
          handler: (_arg: unknown, ctx) =>
            void ranOn.push({
              attempt: ctx.attempt,
              lease: ctx.task.leaseToken,
              startedAt: ctx.task.startedAt,
            }),
        });
        const manager = await h().manager([task]);
        const inside = await manager.transaction(async (tx) => {
          const id = await manager.enqueue(task, {}, { tx });
          return { id, ...(await claimOf(tx, manager.options.table, id)) };
        });
        expect(inside).toMatchObject({ status: 'running', attempts: 1 });
        expect(inside.lease).toMatch(/^[0-9a-f-]{36}$/);
        // The attempt ran on the lease its insert took: no second claim was made. The row as
        // claimed has no start yet: that is recorded once the handler started.
        const row = await manager.getTask(inside.id);
        expect(ranOn).toEqual([{ attempt: 1, lease: inside.lease, startedAt: null }]);
        expect(row).toMatchObject({ status: 'succeeded', attempts: 1 });
        expect(Date.parse(row!.startedAt!)).toBeGreaterThanOrEqual(Date.parse(row!.createdAt));
        expect(Date.parse(row!.startedAt!)).toBeLessThanOrEqual(Date.parse(row!.finishedAt!));
      },
    );

    itInTransactionsWithSql(
      'a COMMIT that rolls back (an error caught inside the transaction) starts none of its claimed tasks',
      async () => {
        let runs = 0;
        const task = defineTask({ key: 'aborted-commit', handler: () => void runs++ });
        const manager = await h().manager([task]);
        // The caller swallows a failed statement: the transaction is aborted, and its COMMIT rolls
        // back. node-postgres reports nothing; PGlite rejects ("rolled back instead of committed"),
        // postgres-js with the swallowed error.
        await manager
          .transaction(async (tx) => {
            await manager.enqueue(task, {}, { tx });
            await tx.execute(sql`select 1 / 0`).catch(() => {});
          })
          .catch((error: Error) => expect(error.message).toMatch(/rolled back|division by zero/));
        expect(runs).toBe(0);
        expect(await h().rows(manager)).toHaveLength(0);
      },
    );

    itInTransactions(
      'a task enqueued on the outer transaction inside a savepoint that rolls back does not run',
      async () => {
        let runs = 0;
        const task = defineTask({ key: 'outer-in-savepoint', handler: () => void runs++ });
        const manager = await h().manager([task]);
        await manager.transaction(async (tx) => {
          await tx
            .transaction(async () => {
              await manager.enqueue(task, {}, { tx });
              throw new Error('undo the savepoint');
            })
            .catch(() => {});
        });
        expect(runs).toBe(0);
        expect(await h().rows(manager)).toHaveLength(0);
      },
    );

    itInTransactions(
      'a committed task that waits for a slot gets no start time until it starts, so its attempt is never counted unrun',
      async () => {
        const hold = gate();
        const task = defineTask({
          key: 'slot-wait',
          handler: (arg: { hold: boolean }) => (arg.hold ? hold.opened : undefined),
        });
        const manager = await h().manager([task], { concurrency: 2 });
        const collector = waitUntilCollector();
        // One slot is taken by a task of its own; the transaction's two tasks find one free slot.
        await manager.enqueue(task, { hold: true }, { waitUntil: collector.waitUntil });
        const [first, second] = await manager.transaction(
          async (tx) => [
            await manager.enqueue(task, { hold: true }, { tx }),
            await manager.enqueue(task, { hold: false }, { tx }),
          ],
          { waitUntil: collector.waitUntil },
        );
        const startOf = async (id: number) => (await manager.getTask(id))?.startedAt ?? null;
        await eventually(async () => ((await startOf(first!)) !== null ? true : undefined));
        expect(await manager.getTask(second!)).toMatchObject({ status: 'running', startedAt: null });
        hold.open();
        await collector.settle();
        for (const id of [first!, second!]) {
          expect(await manager.getTask(id)).toMatchObject({ status: 'succeeded', attempts: 1 });
        }
      },
    );

    itInTransactionsWithSql(
      'delayed, sequenced and foreign-transaction tasks are not claimed by their insert',
      async () => {
        const task = defineTask({ key: 'unclaimed', handler: () => {} });
        const manager = await h().manager([task]);
        const table = manager.options.table;
        const statuses = await manager.transaction(async (tx) => {
          const delayed = await manager.enqueue(task, {}, { tx, delayMs: 60_000 });
          const sequenced = await manager.enqueue(task, {}, { tx, sequenceKey: 'account-1' });
          return [(await claimOf(tx, table, delayed)).status, (await claimOf(tx, table, sequenced)).status];
        });
        expect(statuses).toEqual(['initialized', 'initialized']);
        const foreign = await h().database.db.transaction(async (tx: any) => {
          const id = await manager.enqueue(task, {}, { tx });
          return claimOf(tx, table, id);
        });
        expect(foreign).toMatchObject({ status: 'initialized', attempts: 0, lease: null });
      },
    );

    itInTransactionsWithSql(
      'a transaction that stays open past the claim allowance hands its task over to a fresh claim',
      async () => {
        const leases: (string | null)[] = [];
        const task = defineTask({
          key: 'late-commit',
          handler: (_arg: unknown, ctx) => void leases.push(ctx.task.leaseToken),
        });
        const manager = await h().manager([task]);
        const inside = await manager.transaction(async (tx) => {
          const id = await manager.enqueue(task, {}, { tx });
          const claim = await claimOf(tx, manager.options.table, id);
          await new Promise((resolve) => setTimeout(resolve, QUEUE_WAIT_MS + 200));
          return { id, ...claim };
        });
        expect(inside.status).toBe('running');
        // Released unstarted and claimed again: one run, on a new lease, with one attempt counted.
        expect(leases).toHaveLength(1);
        expect(leases[0]).not.toBe(inside.lease);
        expect(await manager.getTask(inside.id)).toMatchObject({ status: 'succeeded', attempts: 1 });
      },
    );

    itInTransactions('a rolled-back transaction leaves no task and runs nothing', async () => {
      let runs = 0;
      const task = defineTask({ key: 'rolled-back', handler: () => void runs++ });
      const manager = await h().manager([task]);
      await expect(
        manager.transaction(async (tx) => {
          await manager.enqueue(task, {}, { tx });
          throw new Error('business rule failed');
        }),
      ).rejects.toThrow('business rule failed');
      expect(runs).toBe(0);
      expect(await h().rows(manager)).toHaveLength(0);
    });

    itInTransactions(
      'a savepoint that rolls back drops its tasks; the rest of the transaction still runs',
      async () => {
        const ran: string[] = [];
        const task = defineTask({
          key: 'savepoint',
          handler: (arg: { name: string }) => void ran.push(arg.name),
        });
        const manager = await h().manager([task]);
        await manager.transaction(async (tx) => {
          await manager.enqueue(task, { name: 'outer-before' }, { tx });
          await tx
            .transaction(async (savepoint: any) => {
              await manager.enqueue(task, { name: 'inside-rolled-back' }, { tx: savepoint });
              throw new Error('undo this part');
            })
            .catch(() => {});
          await tx.transaction(async (savepoint: any) => {
            await manager.enqueue(task, { name: 'inside-kept' }, { tx: savepoint });
          });
          await manager.enqueue(task, { name: 'outer-after' }, { tx });
        });
        expect(ran).toEqual(['outer-before', 'inside-kept', 'outer-after']);
        const rows = await h().rows(manager);
        expect(rows.map((row) => (row.arg as { name: string }).name)).toEqual([
          'outer-before',
          'inside-kept',
          'outer-after',
        ]);
      },
    );

    itInTransactionsWithSql(
      'a task enqueued in a foreign transaction waits for a scanner, and vanishes if that transaction rolls back',
      async () => {
        let runs = 0;
        const task = defineTask({ key: 'foreign', handler: () => void runs++ });
        const manager = await h().manager([task]);
        const id = await h().database.db.transaction((tx: any) => manager.enqueue(task, {}, { tx }));
        await expect(
          h().database.db.transaction(async (tx: any) => {
            await manager.enqueue(task, {}, { tx });
            throw new Error('no');
          }),
        ).rejects.toThrow('no');
        expect(runs).toBe(0);
        expect((await manager.getTask(id))?.status).toBe('initialized');
        const report = await manager.tick({ budgetMs: 5000 });
        expect(report).toMatchObject({ claimed: 1, succeeded: 1 });
        expect(runs).toBe(1);
        expect(await h().rows(manager)).toHaveLength(1);
      },
    );

    it('enqueueMany inserts in one call, returns ids in input order, and runs them all', async () => {
      const ran: number[] = [];
      const task = defineTask({ key: 'many', handler: (arg: { i: number }) => void ran.push(arg.i) });
      const manager = await h().manager([task], { concurrency: 50 });
      const ids = await h().enqueueWithCommitHook(
        manager,
        task,
        Array.from({ length: 20 }, (_, i) => ({ i })),
      );
      expect(ids).toHaveLength(20);
      expect([...ids].sort((a, b) => a - b)).toEqual(ids);
      for (const [i, id] of ids.entries()) expect((await manager.getTask(id))?.arg).toEqual({ i });
      expect(ran.sort((a, b) => a - b)).toEqual(Array.from({ length: 20 }, (_, i) => i));
    });

    it('gives a task its insert claimed its row exactly as stored, in every form of enqueue', async () => {
      // The insert returns only its id, its clock and the lease's end; the rest of ctx.task is
      // what the insert was given, and must read the same as the row in the table.
      const seen: { inHandler: unknown; stored: unknown }[] = [];
      const task = defineTask({
        key: 'insert-row',
        retryTimes: 2,
        timeoutMs: 4321,
        handler: async (_arg: unknown, ctx) => {
          seen.push({ inHandler: ctx.task, stored: await manager.getTask(ctx.task.id) });
        },
      });
      const manager = await h().manager([task]);
      const ids = [
        await manager.enqueue(task, { n: 1, text: 'é "quoted"', nested: { b: [1, 2.5], a: null } }),
        await manager.enqueue(task, { n: 2 }, { dedupeKey: 'insert-row-2' }),
        ...(await h().enqueueWithCommitHook(manager, task, [{ n: 3 }, { n: 4 }])),
      ];
      if (driver.lacks?.interactiveTransactions === undefined) {
        ids.push(await manager.transaction((tx) => manager.enqueue(task, { n: 5 }, { tx })));
      }
      await eventually(async () => (seen.length === ids.length ? true : undefined));
      expect(seen.map(({ inHandler }) => (inHandler as { id: number }).id).sort()).toEqual([...ids].sort());
      for (const { inHandler, stored } of seen) {
        expect(inHandler).toMatchObject({ status: 'running', attempts: 1, maxAttempts: 3, timeoutMs: 4321 });
        expect(inHandler).toEqual({ ...(stored as object), startedAt: null });
        // The claim records no start; the executor does once the handler started, maybe already.
        expect(sameOrLater((stored as TaskRow).startedAt, (stored as TaskRow).createdAt)).toBe(true);
      }
    });

    it('above the concurrency cap, committed tasks stay initialized for a scanner', async () => {
      const hold = gate();
      let running = 0;
      let maxRunning = 0;
      const task = defineTask({
        key: 'capped',
        handler: async () => {
          maxRunning = Math.max(maxRunning, ++running);
          await hold.opened;
          running--;
        },
      });
      const manager = await h().manager([task], { concurrency: 2 });
      const collector = waitUntilCollector();
      const ids = await h().enqueueWithCommitHook(manager, task, [{}, {}, {}, {}, {}], {
        waitUntil: collector.waitUntil,
      });
      const statuses = async () => (await h().rows(manager)).map((row) => row.status);
      const twoStarted = async () => ((await statuses()).includes('running') ? true : undefined);
      await eventually(async () => (running === 2 ? twoStarted() : undefined));
      expect(await statuses()).toEqual(['running', 'running', 'initialized', 'initialized', 'initialized']);
      hold.open();
      await collector.settle();
      expect(await statuses()).toEqual([
        'succeeded',
        'succeeded',
        'initialized',
        'initialized',
        'initialized',
      ]);
      const report = await manager.tick({ budgetMs: 5000 });
      expect(report.succeeded).toBe(3);
      expect(maxRunning).toBe(2);
      expect(ids).toHaveLength(5);
    });

    it('a dedupe key keeps one stored task per task key: the second enqueue returns the first id', async () => {
      let runs = 0;
      const first = defineTask({ key: 'dedupe-a', handler: () => void runs++ });
      const second = defineTask({ key: 'dedupe-b', handler: () => void runs++ });
      const manager = await h().manager([first, second]);
      const a = await manager.enqueue(first, { v: 1 }, { dedupeKey: 'order-9' });
      const again = await manager.enqueue(first, { v: 2 }, { dedupeKey: 'order-9' });
      const other = await manager.enqueue(second, {}, { dedupeKey: 'order-9' });
      expect(again).toBe(a);
      expect(other).not.toBe(a);
      expect(runs).toBe(2);
      expect((await manager.getTask(a))?.arg).toEqual({ v: 1 });
      expect(await h().rows(manager)).toHaveLength(2);
    });

    it('enqueueOnce says whether it created the task or found the one holding the key', async () => {
      const task = defineTask({ key: 'once', handler: () => undefined });
      const manager = await h().manager([task]);
      const first = await manager.enqueueOnce(task, { v: 1 }, { dedupeKey: 'receipt-1' });
      expect(first.created).toBe(true);
      expect((await manager.getTask(first.id))?.status).toBe('succeeded');
      // The default holds the key while the task is stored, finished or not.
      expect(await manager.enqueueOnce(task, { v: 2 }, { dedupeKey: 'receipt-1' })).toEqual({
        id: first.id,
        created: false,
      });
      expect((await manager.getTask(first.id))?.arg).toEqual({ v: 1 });
      const other = await manager.enqueueOnce(task, { v: 3 }, { dedupeKey: 'receipt-2' });
      expect(other.created).toBe(true);
      expect(other.id).not.toBe(first.id);
    });

    itInTransactions(
      "dedupeFor 'unfinished': a task holds its key until it succeeded, failed or was cancelled",
      async () => {
        const outcome = { throw: null as Error | null };
        const task = defineTask({
          key: 'until-done',
          handler: () => {
            if (outcome.throw) throw outcome.throw;
          },
        });
        const manager = await h().manager([task]);
        const once = (v: number) =>
          manager.enqueueOnce(
            task,
            { v },
            { dedupeKey: 'sync', dedupeFor: 'unfinished', delayMs: v === 1 ? 60_000 : 0 },
          );
        const waiting = await once(1);
        expect(waiting.created).toBe(true);
        // Still initialized (due in a minute): it holds the key.
        expect(await once(2)).toEqual({ id: waiting.id, created: false });
        expect(await manager.cancelTask(waiting.id)).toBe(true);
        const succeeded = await once(3);
        expect(succeeded.created).toBe(true);
        expect((await manager.getTask(succeeded.id))?.status).toBe('succeeded');
        outcome.throw = new Error('down');
        const failed = await once(4);
        expect(failed.created).toBe(true);
        expect((await manager.getTask(failed.id))?.status).toBe('failed');
        const last = await once(5);
        expect(last.created).toBe(true);
        const rows = await Promise.all(
          [waiting, succeeded, failed, last].map(({ id }) => manager.getTask(id)),
        );
        expect(rows.map((row) => [row?.status, row?.dedupeKey, row?.releasedDedupeKey])).toEqual([
          ['cancelled', null, 'sync'],
          ['succeeded', null, 'sync'],
          ['failed', null, 'sync'],
          ['failed', 'sync', null],
        ]);
        // A plain enqueue (dedupeFor 'stored') finds the holder, finished or not.
        expect(await manager.enqueue(task, { v: 6 }, { dedupeKey: 'sync' })).toBe(last.id);
      },
    );

    itInTransactions(
      'dedupeFor { ms }: a task holds its key for that long from its enqueue (database clock)',
      async () => {
        const clock = manualClock();
        const task = defineTask({ key: 'windowed', handler: () => undefined });
        const manager = await h().manager([task], { clock: clock.now });
        const once = () => manager.enqueueOnce(task, {}, { dedupeKey: 'digest', dedupeFor: { ms: 60_000 } });
        const first = await once();
        expect(first.created).toBe(true);
        clock.advance(59_999);
        expect(await once()).toEqual({ id: first.id, created: false });
        clock.advance(1);
        const second = await once();
        expect(second.created).toBe(true);
        expect(second.id).not.toBe(first.id);
        expect(await once()).toEqual({ id: second.id, created: false });
      },
    );

    itInTransactions(
      'a release of a dedupe key rolls back with its transaction: the old task keeps it',
      async () => {
        const task = defineTask({ key: 'release-rollback', handler: () => undefined });
        const manager = await h().manager([task]);
        const holder = await manager.enqueueOnce(task, {}, { dedupeKey: 'k', dedupeFor: 'unfinished' });
        expect((await manager.getTask(holder.id))?.status).toBe('succeeded');
        let inside: { id: number; created: boolean } | undefined;
        await expect(
          manager.transaction(async (tx) => {
            inside = await manager.enqueueOnce(task, {}, { dedupeKey: 'k', dedupeFor: 'unfinished', tx });
            throw new Error('roll back');
          }),
        ).rejects.toThrow('roll back');
        expect(inside?.created).toBe(true);
        expect(await manager.getTask(inside!.id)).toBeNull();
        expect(await manager.getTask(holder.id)).toMatchObject({ dedupeKey: 'k', releasedDedupeKey: null });
        expect(await manager.enqueue(task, {}, { dedupeKey: 'k' })).toBe(holder.id);
      },
    );

    itInTransactions(
      'in one transaction, a key released to a later enqueue is not found on the task that gave it up',
      async () => {
        const clock = manualClock();
        const task = defineTask({ key: 'released-in-tx', handler: () => undefined });
        const manager = await h().manager([task], { clock: clock.now });
        const once = { dedupeKey: 'k', dedupeFor: { ms: 10 }, delayMs: 60_000 } as const;
        const results = await manager.transaction(async (tx) => {
          const first = await manager.enqueueOnce(task, {}, { ...once, tx });
          clock.advance(30);
          const second = await manager.enqueueOnce(task, {}, { ...once, tx });
          const third = await manager.enqueueOnce(task, {}, { ...once, tx });
          return [first, second, third];
        });
        expect(results.map((result) => result.created)).toEqual([true, true, false]);
        expect(results[2]!.id).toBe(results[1]!.id);
        const [first, second] = await Promise.all(results.slice(0, 2).map(({ id }) => manager.getTask(id)));
        expect([first?.dedupeKey, first?.releasedDedupeKey, second?.dedupeKey]).toEqual([null, 'k', 'k']);
      },
    );

    if (driver.lacks?.interactiveTransactions !== undefined) {
      it("without interactive transactions, dedupeFor 'unfinished' or { ms } is refused, and 'stored' dedupes", async () => {
        const task = defineTask({ key: 'no-release', handler: () => undefined });
        const manager = await h().manager([task]);
        const first = await manager.enqueueOnce(task, {}, { dedupeKey: 'k' });
        expect(await manager.enqueueOnce(task, {}, { dedupeKey: 'k', dedupeFor: 'stored' })).toEqual({
          id: first.id,
          created: false,
        });
        for (const dedupeFor of ['unfinished', { ms: 1000 }] as const) {
          await expect(manager.enqueueOnce(task, {}, { dedupeKey: 'k', dedupeFor })).rejects.toMatchObject({
            code: 'GTA_UNSUPPORTED',
            message: expect.stringContaining("use dedupeFor 'stored'"),
          });
        }
        expect(await h().rows(manager)).toHaveLength(1);
      });
    }

    it('dedupeFor is refused without a dedupe key, out of range, in enqueueMany and for a nested task', async () => {
      const errors: string[] = [];
      const child = defineTask({ key: 'dedupe-child', handler: () => undefined });
      const parent = defineTask({
        key: 'dedupe-parent',
        handler: (_arg, ctx) => ctx.enqueue(child, {}, { dedupeKey: 'c', dedupeFor: 'unfinished' } as never),
      });
      const manager = await h().manager([child, parent]);
      for (const options of [
        { dedupeFor: 'unfinished' },
        { dedupeKey: 'k', dedupeFor: { ms: 0 } },
        { dedupeKey: 'k', dedupeFor: 'always' },
      ]) {
        await manager
          .enqueue(child, {}, options as never)
          .catch((error) => errors.push(`${error.code}: ${error.message}`));
      }
      await manager
        .enqueueMany(child, [{}], { dedupeFor: 'stored' } as never)
        .catch((error) => errors.push(error.code));
      await expect(manager.enqueueOnce(child, {}, {} as never)).rejects.toMatchObject({
        code: 'GTA_INVALID_ARGUMENT',
      });
      expect(errors).toEqual([
        'GTA_INVALID_ARGUMENT: dedupeFor needs a dedupeKey',
        "GTA_INVALID_ARGUMENT: dedupeFor must be 'stored', 'unfinished' or { ms } with ms a whole number from 1 to 315360000000 (ten years), got {\"ms\":0}",
        "GTA_INVALID_ARGUMENT: dedupeFor must be 'stored', 'unfinished' or { ms } with ms a whole number from 1 to 315360000000 (ten years), got \"always\"",
        'GTA_INVALID_ARGUMENT',
      ]);
      const parentId = await manager.enqueue(parent, {});
      expect(await manager.getTask(parentId)).toMatchObject({ status: 'failed' });
      expect((await manager.getTask(parentId))?.lastError).toContain('ctx.enqueue takes no dedupeFor');
      expect(await h().rows(manager)).toHaveLength(1);
    });

    it('delayMs and runAt hold a task until its time (database clock)', async () => {
      let runs = 0;
      const task = defineTask({ key: 'delayed', handler: () => void runs++ });
      const manager = await h().manager([task]);
      const delayed = await manager.enqueue(task, {}, { delayMs: 60_000 });
      const scheduled = await manager.enqueue(task, {}, { runAt: new Date(Date.now() + 3_600_000) });
      expect(runs).toBe(0);
      expect((await manager.tick({ budgetMs: 2000 })).claimed).toBe(0);
      const row = await manager.getTask(delayed);
      expect(Date.parse(row!.runAt) - Date.parse(row!.createdAt)).toBeGreaterThanOrEqual(59_000);
      expect((await manager.getTask(scheduled))?.status).toBe('initialized');
    });

    it('a root signal that is aborted stops the commit hook and the scanner from starting tasks', async () => {
      let runs = 0;
      const task = defineTask({ key: 'stopped', handler: () => void runs++ });
      const root = new AbortController();
      root.abort();
      const manager = await h().manager([task], { signal: root.signal });
      const id = await manager.enqueue(task, {});
      expect((await manager.tick({ budgetMs: 1000 })).claimed).toBe(0);
      expect(runs).toBe(0);
      expect((await manager.getTask(id))?.status).toBe('initialized');
    });
  });
}

/** The claim columns of task `id` as transaction `tx` sees them (before it commits). */
async function claimOf(
  tx: any,
  table: string,
  id: number,
): Promise<{ status: string; attempts: number; lease: string | null }> {
  const result = await tx.execute(
    sql`select status, attempts, lease_token::text as lease from ${sql.identifier(table)} where id = ${id}`,
  );
  const [row] = Array.isArray(result) ? result : result.rows;
  return { status: row.status, attempts: Number(row.attempts), lease: row.lease };
}
