/**
 * The task manager every route shares. `waitUntil` from `@gta/vercel` starts committed tasks right
 * after the response, through Vercel's `waitUntil`. Its schedule needs no cron job of its own: the
 * cron route's ticks fire it.
 */
import { createTaskManager } from '@gta/core';
import { waitUntil } from '@gta/vercel';
import { db } from './db.js';
import { dailyDigest, sendWelcome } from './tasks.js';

export const manager = createTaskManager({
  db,
  tasks: [sendWelcome, dailyDigest],
  // Every morning at 8 in Paris, daylight saving included.
  schedules: [{ id: 'daily-digest', task: dailyDigest, cron: '0 8 * * *', timezone: 'Europe/Paris' }],
  concurrency: 5,
  waitUntil,
});
