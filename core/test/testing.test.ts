import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTaskManager, defineTask, silentLogger } from '../src/index.js';
import { drain, enqueuedTasks } from '../src/testing.js';
import { createPgliteDatabase, type TestDatabase } from './support/databases.js';

describe('@gta/core/testing', () => {
  let database: TestDatabase;
  beforeAll(async () => {
    database = await createPgliteDatabase();
  });
  afterAll(() => database.close());

  it('drain runs everything due, nested tasks included, and enqueuedTasks reads what was enqueued', async () => {
    const child = defineTask({ key: 'welcome-child', handler: () => {} });
    const welcome = defineTask({
      key: 'welcome',
      handler: (_arg: { userId: number }, ctx) => ctx.enqueue(child, {}),
    });
    const manager = createTaskManager({ db: database.db, tasks: [welcome, child], logger: silentLogger });
    await manager.migrate();
    await database.db.transaction((tx: any) =>
      manager.enqueueMany(welcome, [{ userId: 1 }, { userId: 2 }], { tx }),
    );
    expect((await enqueuedTasks(manager, welcome)).map((task) => task.arg)).toEqual([
      { userId: 1 },
      { userId: 2 },
    ]);
    const report = await drain(manager);
    expect(report).toMatchObject({ claimed: 4, succeeded: 4, failed: 0 });
    expect((await enqueuedTasks(manager, 'welcome-child')).map((task) => task.status)).toEqual([
      'succeeded',
      'succeeded',
    ]);
  });

  it('drain runs due tasks even when each tick spends its budget on housekeeping', async () => {
    const ok = defineTask({ key: 'tiny-budget', handler: () => {} });
    const manager = createTaskManager({
      db: database.db,
      table: 'tiny_budget',
      tasks: [ok],
      logger: silentLogger,
    });
    await manager.migrate();
    const id = await database.db.transaction((tx: any) => manager.enqueue(ok, {}, { tx }));
    await drain(manager, { budgetMs: 1 });
    expect((await manager.getTask(id))?.status).toBe('succeeded');
  });

  it('drain gives up on tasks that keep being claimed', async () => {
    const forever = defineTask({
      key: 'forever',
      retryTimes: 1000,
      retryInterval: () => 0,
      handler: () => {
        throw new Error('again');
      },
    });
    const manager = createTaskManager({
      db: database.db,
      table: 'forever_tasks',
      tasks: [forever],
      logger: silentLogger,
    });
    await manager.migrate();
    await database.db.transaction((tx: any) => manager.enqueue(forever, {}, { tx }));
    await expect(drain(manager, { maxTicks: 3, budgetMs: 50 })).rejects.toThrow(
      'still being claimed after 3 ticks',
    );
  });
});
