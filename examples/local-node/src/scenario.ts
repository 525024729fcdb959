/**
 * The scripted scenario: the demo calls its own HTTP endpoints, as a user would, so the story
 * plays without anyone typing.
 * @module
 */
import { gtaTasksTable, type TaskManager } from '@gta/core';
import { eq, inArray } from 'drizzle-orm';
import type { OrderInput, PlacedOrder, RolledBackOrder } from './app.js';
import { type Database, orders } from './database.js';
import { say, taskList } from './format.js';

const ORDERS: OrderInput[] = [
  { email: 'ada@example.com', item: 'tea', amountCents: 450, loyalty: true },
  { email: 'grace@example.com', item: 'coffee', amountCents: 380, loyalty: false },
];
const DOOMED_ORDER: OrderInput = {
  email: 'alan@example.com',
  item: 'cake',
  amountCents: 520,
  loyalty: false,
};

export interface ScenarioResult {
  placed: PlacedOrder[];
  rolledBack: RolledBackOrder;
  /** Whether the rolled-back order and its tasks are absent from both tables. */
  rollbackLeftNothing: boolean;
}

export async function runScenario(
  baseUrl: string,
  manager: TaskManager,
  database: Database,
): Promise<ScenarioResult> {
  say('scenario: two orders, then one whose transaction rolls back');
  const placed: PlacedOrder[] = [];
  for (const order of ORDERS) {
    say(`POST /orders: ${order.email} buys ${order.item}${order.loyalty ? ' (a loyalty member)' : ''}`);
    const body = await post<PlacedOrder>(`${baseUrl}/orders`, order, 201);
    say(
      `  201: order ${body.order.id} and ${taskList(body.taskIds)} committed together; the response did not wait for the work`,
    );
    placed.push(body);
  }

  say(
    `POST /orders/rollback: ${DOOMED_ORDER.email} buys ${DOOMED_ORDER.item}, but the handler throws before commit`,
  );
  const rolledBack = await post<RolledBackOrder>(`${baseUrl}/orders/rollback`, DOOMED_ORDER, 409);
  say(`  409: ${rolledBack.message}`);
  const rollbackLeftNothing = await leftNothing(rolledBack.attempted, manager, database);
  say(
    rollbackLeftNothing
      ? `the rolled-back order's tasks never ran: no row exists (${taskList(rolledBack.attempted.taskIds)} and order ${rolledBack.attempted.order.id} are absent from their tables)`
      : 'the rolled-back order left rows behind: the transaction did not roll back its enqueue',
  );
  return { placed, rolledBack, rollbackLeftNothing };
}

/** Asks the tables directly rather than the manager, so the check does not trust the code it checks. */
export async function leftNothing(
  { order, taskIds }: PlacedOrder,
  manager: TaskManager,
  { db }: Database,
): Promise<boolean> {
  const tasksTable = gtaTasksTable(manager.options.table);
  const taskRows = await db
    .select({ id: tasksTable.id })
    .from(tasksTable)
    .where(inArray(tasksTable.id, taskIds));
  const orderRows = await db.select({ id: orders.id }).from(orders).where(eq(orders.id, order.id));
  return taskRows.length === 0 && orderRows.length === 0;
}

async function post<Body>(url: string, body: unknown, expectedStatus: number): Promise<Body> {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  if (response.status !== expectedStatus) {
    throw new Error(
      `POST ${url} answered ${response.status}, expected ${expectedStatus}: ${await response.text()}`,
    );
  }
  return (await response.json()) as Body;
}
