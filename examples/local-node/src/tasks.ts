/**
 * The demo's tasks: a charge that fails once and succeeds on retry, the confirmation it enqueues
 * as a nested task, a shipment booking that fails until an operator reruns it, a loyalty sync
 * that always fails, and a sales report that a schedule fires.
 * @module
 */
import { setTimeout as delay } from 'node:timers/promises';
import { CancelTask, defineTask } from '@gta/core';
import { and, count, eq, lte, sum } from 'drizzle-orm';
import { type Database, orders } from './database.js';
import { say } from './format.js';

/** Long enough for a reader to see each task running on the live page. */
const SIMULATED_WORK_MS = 300;
const RETRY_INTERVAL_MS = 500;

export const SALES_REPORT = 'sales-report';
/**
 * Every ten seconds (six fields, seconds first): a demo's pace, so that a run sees it fire. A shop
 * would run it nightly, `'0 2 * * *'`.
 */
export const SALES_REPORT_CRON = '*/10 * * * * *';

export type DemoTasks = ReturnType<typeof createTasks>;

export function createTasks({ db }: Database) {
  const sendConfirmation = defineTask({
    key: 'send-confirmation',
    handler: async (_arg: { orderId: number; email: string }, ctx) => {
      await delay(SIMULATED_WORK_MS, undefined, { signal: ctx.signal });
    },
  });

  const chargeCard = defineTask({
    key: 'charge-card',
    retryTimes: 2,
    retryInterval: () => RETRY_INTERVAL_MS,
    handler: async ({ orderId }: { orderId: number }, ctx) => {
      await delay(SIMULATED_WORK_MS, undefined, { signal: ctx.signal });
      // Every first attempt fails, standing in for a flaky payment gateway, so each order shows a retry.
      if (ctx.attempt === 1) throw new Error('card declined by a flaky gateway');
      const [order] = await db
        .update(orders)
        .set({ status: 'paid' })
        .where(eq(orders.id, orderId))
        .returning();
      if (!order) throw new CancelTask(`order ${orderId} does not exist`);
      // Committed only with this attempt's success, so the failed attempt sent no email.
      ctx.enqueue(sendConfirmation, { orderId, email: order.email });
    },
  });

  const syncLoyaltyPoints = defineTask({
    key: 'sync-loyalty-points',
    retryTimes: 1,
    retryInterval: () => RETRY_INTERVAL_MS,
    handler: async (_arg: { orderId: number; email: string }, ctx) => {
      await delay(SIMULATED_WORK_MS, undefined, { signal: ctx.signal });
      throw new Error('loyalty service unavailable (HTTP 503)');
    },
  });

  const bookShipment = defineTask({
    key: 'book-shipment',
    // No retries: a booking that fails waits, `failed`, for an operator to rerun it (from /admin).
    handler: async (_arg: { orderId: number }, ctx) => {
      await delay(SIMULATED_WORK_MS, undefined, { signal: ctx.signal });
      // Stands in for a warehouse outage that outlasts any retry: each booking's first run fails.
      // `lastError` survives a forced rerun (which resets `attempts`), so a rerun books the parcel.
      if (ctx.task.lastError === null) throw new Error('warehouse booking API offline (HTTP 503)');
    },
  });

  const salesReport = defineTask({
    key: SALES_REPORT,
    // The paid orders placed up to the slot the schedule fired it for, however late it runs.
    handler: async (_arg: null, ctx) => {
      const asOf = ctx.scheduledFor ?? new Date();
      const [totals] = await db
        .select({ paid: count(), cents: sum(orders.amountCents) })
        .from(orders)
        .where(and(eq(orders.status, 'paid'), lte(orders.createdAt, asOf)));
      const amount = (Number(totals?.cents ?? 0) / 100).toFixed(2);
      say(
        `sales report for ${asOf.toTimeString().slice(0, 8)}: ${totals?.paid ?? 0} paid order(s), ${amount} in all`,
      );
    },
  });

  return { chargeCard, sendConfirmation, bookShipment, syncLoyaltyPoints, salesReport };
}
