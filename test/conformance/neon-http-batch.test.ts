/**
 * Transactional enqueue on neon-http, the driver without interactive transactions: the enqueue as a
 * statement (`enqueueStatement`) inside `db.batch([...])` next to the user's own writes, so the task
 * commits with them or not at all; a scanner (`tick`, whose every statement stands alone) runs it.
 * The semantics suite runs the rest of gta over neon-http (semantics.neon-http.test.ts).
 */
import { createTaskManager, defineTask, isGtaError, silentLogger, type TaskManager } from '@gta/core';
import { eq } from 'drizzle-orm';
import { integer, pgTable, text } from 'drizzle-orm/pg-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { postgresAvailable, type TestDatabase } from '../../core/test/support/databases.js';
import { neonHttp } from '../support/drivers.js';

const hasPostgres = await postgresAvailable();

const orders = pgTable('orders', { id: integer('id').primaryKey(), item: text('item').notNull() });

describe.skipIf(!hasPostgres)('enqueue in db.batch on drizzle-orm/neon-http', () => {
  let database: TestDatabase;
  let tables = 0;
  beforeAll(async () => {
    database = await neonHttp.open();
    await database.exec('create table orders (id int primary key, item text not null)');
  });
  afterAll(() => database?.close());

  const shipped: { orderId: number; item: string | undefined }[] = [];
  const ship = defineTask({
    key: 'ship-order',
    handler: async ({ orderId }: { orderId: number }) => {
      // The handler reads through neon-http too: it must see the order its batch committed.
      const [order] = await database.db.select().from(orders).where(eq(orders.id, orderId));
      shipped.push({ orderId, item: order?.item });
    },
  });

  async function manager(): Promise<TaskManager> {
    const created = createTaskManager({
      db: database.db,
      table: `batch_${tables++}`,
      tasks: [ship],
      logger: silentLogger,
    });
    await created.migrate();
    return created;
  }

  it('commits the task with the user’s writes in one batch, and a tick runs it after', async () => {
    const tasks = await manager();
    const { db } = database;
    const [, inserted] = await db.batch([
      db.insert(orders).values({ id: 1, item: 'kettle' }),
      db.execute(await tasks.enqueueStatement(ship, { orderId: 1 })),
    ]);
    const id = Number(inserted.rows[0].id);
    // A batch has no commit hook: the task waits, committed, for a scanner.
    expect(await tasks.getTask(id)).toMatchObject({ status: 'initialized', arg: { orderId: 1 } });
    expect(await tasks.tick({ budgetMs: 5000 })).toMatchObject({ claimed: 1, succeeded: 1 });
    expect(shipped).toContainEqual({ orderId: 1, item: 'kettle' });
    expect(await tasks.getTask(id)).toMatchObject({ status: 'succeeded', attempts: 1 });
  });

  it('leaves no task, and none of the user’s writes, when the batch fails', async () => {
    const tasks = await manager();
    const { db } = database;
    const failed = await db
      .batch([
        db.insert(orders).values({ id: 2, item: 'lamp' }),
        db.execute(await tasks.enqueueStatement(ship, { orderId: 2 })),
        db.insert(orders).values({ id: 2, item: 'the same order again' }),
      ])
      .then(
        () => null,
        (error: unknown) => error,
      );
    expect(failed).toMatchObject({ code: '23505' });
    expect(await database.query(`select * from "${tasks.options.table}"`)).toEqual([]);
    expect(await database.query('select * from orders where id = 2')).toEqual([]);
    expect((await tasks.tick({ budgetMs: 2000 })).claimed).toBe(0);
  });

  it('keeps the enqueue options in a batch: a dedupe key stores one task, a delay holds it', async () => {
    const tasks = await manager();
    const { db } = database;
    const [first, second, later] = await db.batch([
      db.execute(await tasks.enqueueStatement(ship, { orderId: 3 }, { dedupeKey: 'order-3' })),
      db.execute(await tasks.enqueueStatement(ship, { orderId: 3 }, { dedupeKey: 'order-3' })),
      db.execute(await tasks.enqueueStatement(ship, { orderId: 4 }, { delayMs: 3_600_000 })),
    ]);
    expect([first.rows.length, second.rows.length, later.rows.length]).toEqual([1, 0, 1]);
    expect(await tasks.tick({ budgetMs: 5000 })).toMatchObject({ claimed: 1, succeeded: 1 });
    expect(await tasks.getTask(Number(later.rows[0].id))).toMatchObject({ status: 'initialized' });
  });

  it('validates the argument before anything is batched', async () => {
    const tasks = await manager();
    await expect(tasks.enqueueStatement(ship, { orderId: 10n } as never)).rejects.toSatisfy((error) =>
      isGtaError(error, 'GTA_NOT_SERIALIZABLE'),
    );
    await expect(tasks.enqueueStatement('no-such-task', {})).rejects.toSatisfy((error) =>
      isGtaError(error, 'GTA_UNKNOWN_TASK_KEY'),
    );
  });

  it('refuses manager.transaction, which needs an interactive transaction, before writing anything', async () => {
    const tasks = await manager();
    let ran = false;
    const attempt = tasks.transaction((tx) => {
      ran = true;
      return tasks.enqueue(ship, { orderId: 5 }, { tx });
    });
    // A typed error that points to the batch form, with the driver's own error as its cause.
    await expect(attempt).rejects.toSatisfy(
      (error) => isGtaError(error, 'GTA_UNSUPPORTED') && /db\.batch/.test((error as Error).message),
    );
    expect(ran).toBe(false);
    expect(await database.query(`select * from "${tasks.options.table}"`)).toEqual([]);
  });
});
