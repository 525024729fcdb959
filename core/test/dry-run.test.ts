/**
 * What is particular to a dry run; the semantics it shares with the database are the semantics
 * suite's, run on it by semantics.dry-run.test.ts.
 */
import { PGlite } from '@electric-sql/pglite';
import { sql } from 'drizzle-orm';
import { drizzle } from 'drizzle-orm/pglite';
import { describe, expect, it } from 'vitest';
import { createTaskManager, defineTask, isGtaError, silentLogger } from '../src/index.js';
import { drain, memoryTaskTable } from '../src/testing.js';

describe('a dryRun manager', () => {
  it('runs handlers after commit without a database, and nothing of a rolled-back transaction', async () => {
    const ran: string[] = [];
    const task = defineTask({ key: 'dry', handler: (arg: { name: string }) => void ran.push(arg.name) });
    const manager = createTaskManager({ dryRun: true, tasks: [task], logger: silentLogger });
    await manager.transaction(async (tx) => {
      await manager.enqueue(task, { name: 'committed' }, { tx });
      expect(ran).toEqual([]);
    });
    await expect(
      manager.transaction(async (tx) => {
        await manager.enqueue(task, { name: 'rolled back' }, { tx });
        throw new Error('rollback');
      }),
    ).rejects.toThrow('rollback');
    expect(ran).toEqual(['committed']);
    expect(await manager.listTasks()).toMatchObject([{ key: 'dry', status: 'succeeded', attempts: 1 }]);
  });

  it('leaves a retry to a scanner, as on the database: tick (or drain) runs it when it is due', async () => {
    let attempts = 0;
    const task = defineTask({
      key: 'dry-retry',
      retryTimes: 2,
      retryInterval: () => 0,
      handler: () => {
        if (++attempts < 3) throw new Error('flaky');
      },
    });
    const manager = createTaskManager({ dryRun: true, tasks: [task], logger: silentLogger });
    const id = await manager.enqueue(task, {});
    expect(await manager.getTask(id)).toMatchObject({ status: 'initialized', attempts: 1 });
    expect((await drain(manager)).succeeded).toBe(1);
    expect(await manager.getTask(id)).toMatchObject({ status: 'succeeded', attempts: 3 });
  });

  it('shares one memoryTaskTable between managers, as instances share a database table', async () => {
    const table = memoryTaskTable();
    const ran: string[] = [];
    const task = defineTask({ key: 'shared', handler: () => void ran.push('worker') });
    const api = createTaskManager({ dryRun: table, tasks: [task], logger: silentLogger, concurrency: 1 });
    const worker = createTaskManager({ dryRun: table, tasks: [task], logger: silentLogger });
    await api.stop();
    const id = await api.enqueue(task, {});
    expect(ran).toEqual([]);
    expect((await worker.tick({ budgetMs: 1000 })).succeeded).toBe(1);
    expect(ran).toEqual(['worker']);
    expect((await api.getTask(id))?.status).toBe('succeeded');
  });

  it('a dedupe key inserted in a savepoint that rolled back is free again, as in Postgres', async () => {
    const ran: string[] = [];
    const task = defineTask({ key: 'deduped', handler: (arg: { n: string }) => void ran.push(arg.n) });
    const manager = createTaskManager({ dryRun: true, tasks: [task], logger: silentLogger });
    const [first, second] = await manager.transaction(async (tx: any) => {
      const inSavepoint = await tx
        .transaction(async (savepoint: unknown) => {
          await manager.enqueue(task, { n: 'dropped' }, { tx: savepoint as never, dedupeKey: 'k' });
          throw new Error('undo');
        })
        .catch(() => null);
      return [inSavepoint, await manager.enqueue(task, { n: 'kept' }, { tx, dedupeKey: 'k' })];
    });
    expect(first).toBeNull();
    expect(ran).toEqual(['kept']);
    expect((await manager.getTask(second!))?.status).toBe('succeeded');
  });

  it('an insert of a dedupe key another open transaction holds waits for it, and takes the key if it rolls back', async () => {
    const ran: string[] = [];
    const task = defineTask({ key: 'held', handler: (arg: { by: string }) => void ran.push(arg.by) });
    const manager = createTaskManager({ dryRun: true, tasks: [task], logger: silentLogger });
    let rollBack!: () => void;
    const rolledBack = new Promise<void>((resolve) => {
      rollBack = resolve;
    });
    const a = manager
      .transaction(async (tx) => {
        await manager.enqueue(task, { by: 'a' }, { tx, dedupeKey: 'k' });
        await rolledBack;
        throw new Error('a rolls back');
      })
      .catch((error: Error) => error.message);
    await new Promise((resolve) => setTimeout(resolve, 0));
    let bDone = false;
    const b = manager.enqueue(task, { by: 'b' }, { dedupeKey: 'k' }).then((id) => {
      bDone = true;
      return id;
    });
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(bDone).toBe(false);
    rollBack();
    expect(await a).toBe('a rolls back');
    const id = await b;
    expect(ran).toEqual(['b']);
    expect((await manager.getTask(id))?.arg).toEqual({ by: 'b' });
  });

  it('given a db, runs nothing of a transaction whose COMMIT rolls back after a swallowed error', async () => {
    const client = new PGlite();
    try {
      const db = drizzle({ client });
      await client.exec('create table users (email text primary key)');
      await client.exec(`insert into users values ('taken@example.com')`);
      const ran: string[] = [];
      const task = defineTask({
        key: 'welcome',
        handler: (arg: { email: string }) => void ran.push(arg.email),
      });
      const manager = createTaskManager({ db, dryRun: true, tasks: [task], logger: silentLogger });
      await manager
        .transaction(async (tx: any) => {
          await manager.enqueue(task, { email: 'new@example.com' }, { tx });
          await tx.execute(sql`insert into users values ('taken@example.com')`).catch(() => {});
        })
        .catch(() => {});
      expect(ran).toEqual([]);
      expect(await manager.listTasks()).toEqual([]);
    } finally {
      await client.close();
    }
  });

  it('refuses, with GTA_UNSUPPORTED, what a memory table cannot do faithfully', async () => {
    const task = defineTask({ key: 'refused', handler: () => {} });
    const manager = createTaskManager({ dryRun: true, tasks: [task], logger: silentLogger });
    // A transaction the manager did not open: nothing would tell the memory table whether it commits.
    const foreign = { execute: async () => ({ rows: [] }) };
    for (const attempt of [
      () => manager.enqueue(task, {}, { tx: foreign }),
      () => manager.enqueueMany(task, [{}], { tx: foreign }),
      () => manager.enqueueStatement(task, {}),
    ]) {
      const error = await attempt().then(
        () => null,
        (thrown: unknown) => thrown,
      );
      expect(isGtaError(error, 'GTA_UNSUPPORTED')).toBe(true);
    }
    expect(await manager.listTasks()).toEqual([]);
    // Without a db, the transaction of manager.transaction has no database to send statements to.
    const statement = await manager
      .transaction((tx: any) => tx.execute(sql`select 1`))
      .then(
        () => null,
        (thrown: unknown) => thrown,
      );
    expect(isGtaError(statement, 'GTA_UNSUPPORTED')).toBe(true);
  });

  it('filters listTasks by creation and update time as the table does', async () => {
    const later = defineTask({ key: 'later', handler: async () => {} });
    const manager = createTaskManager({ dryRun: true, tasks: [later], logger: silentLogger });
    const id = await manager.enqueue(later, {}, { delayMs: 60_000, waitUntil: () => {} });
    const past = new Date(Date.now() - 3_600_000);
    const future = new Date(Date.now() + 3_600_000);
    expect(await manager.listTasks({ createdAfter: future })).toEqual([]);
    expect(await manager.listTasks({ updatedAfter: future })).toEqual([]);
    expect(await manager.listTasks({ createdBefore: past })).toEqual([]);
    expect(
      (await manager.listTasks({ createdAfter: past, updatedBefore: future })).map((task) => task.id),
    ).toEqual([id]);
  });
});
