/**
 * The example's tasks: welcome a new user (here, stamp the row; in an app, send the mail), and
 * the daily digest a schedule fires (`src/manager.ts`).
 */
import { defineTask } from '@gta/core';
import { and, count, eq, gt, lte } from 'drizzle-orm';
import { db, users } from './db.js';

const DAY_MS = 24 * 60 * 60 * 1000;

export const sendWelcome = defineTask({
  key: 'send-welcome',
  retryTimes: 3,
  retryInterval: (attempt) => 1000 * 2 ** attempt * (0.5 + Math.random()),
  // Well within the cron function's 60 s maxDuration: a tick claims only tasks that fit.
  timeoutMs: 10_000,
  handler: async ({ userId }: { userId: number }, ctx) => {
    ctx.logger.info({ userId }, 'welcoming');
    await db.update(users).set({ welcomedAt: new Date() }).where(eq(users.id, userId));
  },
});

/**
 * How many users were welcomed in the 24 hours up to the slot the schedule fired it for (here,
 * logged; in an app, mailed to the team). Counted from the slot, not from when it runs, so a late
 * run or a retry reports the same day.
 */
export const dailyDigest = defineTask({
  key: 'daily-digest',
  timeoutMs: 10_000,
  handler: async (_arg: null, ctx) => {
    const until = ctx.scheduledFor ?? new Date();
    const since = new Date(until.getTime() - DAY_MS);
    const [row] = await db
      .select({ welcomed: count() })
      .from(users)
      .where(and(gt(users.welcomedAt, since), lte(users.welcomedAt, until)));
    const window = { since: since.toISOString(), until: until.toISOString() };
    ctx.logger.info({ welcomed: row?.welcomed ?? 0, ...window }, 'daily digest');
  },
});
