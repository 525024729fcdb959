/** The example's one task: welcome a new user (here, stamp the row; in an app, send the mail). */
import { defineTask } from '@gta/core';
import { eq } from 'drizzle-orm';
import { db, users } from './db.js';

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
