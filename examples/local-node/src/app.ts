/**
 * The demo's Hono app: orders enqueue their tasks in the order's own transaction, and a page and a
 * JSON endpoint show the task table.
 * @module
 */
import type { TaskId, TaskManager } from '@gta/core';
import { createAdminApp } from '@gta/core/admin';
import { desc } from 'drizzle-orm';
import { Hono } from 'hono';
import type { BackgroundWork } from './background.js';
import { type Database, type Order, orders, type Transaction } from './database.js';
import { taskList } from './format.js';
import { renderPage } from './page.js';
import type { DemoTasks } from './tasks.js';

export interface AppDeps {
  manager: TaskManager<Database['db']>;
  database: Database;
  tasks: DemoTasks;
  background: BackgroundWork;
  /** The admin app's bearer token; it also signs the dashboard's sessions. */
  adminToken: string;
}

export interface OrderInput {
  email: string;
  item: string;
  amountCents: number;
  /** Loyalty members also get a `sync-loyalty-points` task, which always fails. */
  loyalty: boolean;
}

export interface PlacedOrder {
  order: Order;
  taskIds: TaskId[];
}

/** The 409 body of `POST /orders/rollback`: what was written inside the transaction before it rolled back. */
export interface RolledBackOrder {
  rolledBack: true;
  message: string;
  attempted: PlacedOrder;
}

class OutOfStock extends Error {}

export function createApp({ manager, database, tasks, background, adminToken }: AppDeps): Hono {
  const { waitUntil } = background;

  async function placeOrder(tx: Transaction, input: OrderInput): Promise<PlacedOrder> {
    const { loyalty, ...fields } = input;
    const [order] = await tx
      .insert(orders)
      .values({ ...fields, status: 'pending' })
      .returning();
    if (!order) throw new Error('insert into orders returned no row');
    const taskIds = [
      await manager.enqueue(tasks.chargeCard, { orderId: order.id }, { tx }),
      await manager.enqueue(tasks.bookShipment, { orderId: order.id }, { tx }),
    ];
    if (loyalty) {
      const arg = { orderId: order.id, email: order.email };
      taskIds.push(await manager.enqueue(tasks.syncLoyaltyPoints, arg, { tx }));
    }
    return { order, taskIds };
  }

  async function taskSnapshot() {
    const [stats, taskRows] = await Promise.all([manager.stats(), manager.listTasks({ limit: 100 })]);
    return { stats, tasks: taskRows };
  }

  const app = new Hono();
  // The admin API and dashboard, in the same server as the tasks they inspect.
  app.route('/admin', createAdminApp(manager, { token: adminToken }));

  app.get('/', async (c) => {
    const recentOrders = await database.db.select().from(orders).orderBy(desc(orders.id)).limit(20);
    return c.html(renderPage({ ...(await taskSnapshot()), orders: recentOrders, now: Date.now() }));
  });

  app.get('/api/tasks', async (c) => c.json(await taskSnapshot()));

  app.post('/orders', async (c) => {
    const input = parseOrder(await c.req.text());
    if (typeof input === 'string') return c.json({ error: input }, 400);
    const placed = await manager.transaction((tx) => placeOrder(tx, input), { waitUntil });
    return c.json(placed, 201);
  });

  app.post('/orders/rollback', async (c) => {
    const input = parseOrder(await c.req.text());
    if (typeof input === 'string') return c.json({ error: input }, 400);
    let attempted: PlacedOrder | undefined;
    const thrown = await manager
      .transaction(
        async (tx) => {
          attempted = await placeOrder(tx, input);
          throw new OutOfStock(`${input.item} is out of stock`);
        },
        { waitUntil },
      )
      .catch((error: unknown) => error);
    if (!(thrown instanceof OutOfStock) || !attempted) throw thrown;
    const body: RolledBackOrder = {
      rolledBack: true,
      message: `${thrown.message}: the transaction rolled back, so order ${attempted.order.id} and its ${taskList(attempted.taskIds)} were never committed and will never run`,
      attempted,
    };
    return c.json(body, 409);
  });

  return app;
}

const DEFAULT_ORDER: OrderInput = { email: 'ada@example.com', item: 'tea', amountCents: 450, loyalty: false };

/** The order in a request body (empty means all defaults), or what is wrong with it. */
function parseOrder(text: string): OrderInput | string {
  let body: unknown = {};
  if (text.trim() !== '') {
    try {
      body = JSON.parse(text);
    } catch {
      return 'the body must be JSON';
    }
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    return 'the body must be a JSON object';
  }
  const input = { ...DEFAULT_ORDER, ...body } as Record<keyof OrderInput, unknown>;
  if (typeof input.email !== 'string' || !input.email.includes('@')) return 'email must be an email address';
  if (typeof input.item !== 'string' || input.item.length === 0 || input.item.length > 100) {
    return 'item must be a string of 1 to 100 characters';
  }
  if (!Number.isSafeInteger(input.amountCents) || (input.amountCents as number) <= 0) {
    return 'amountCents must be a whole number > 0';
  }
  if (typeof input.loyalty !== 'boolean') return 'loyalty must be true or false';
  // Rebuilt field by field, so nothing else in the body (an `id`, a `status`) reaches the insert.
  return {
    email: input.email,
    item: input.item,
    amountCents: input.amountCents as number,
    loyalty: input.loyalty,
  };
}
