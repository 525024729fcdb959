/**
 * The task manager. `waitUntil` from `@gta/aws-lambda` hands committed tasks to the invocation,
 * which awaits them before returning (Lambda freezes the sandbox as soon as the handler returns).
 * Its schedule needs no EventBridge rule of its own: the per-minute rule's ticks fire it.
 */

import { waitUntil } from '@gta/aws-lambda';
import { createTaskManager } from '@gta/core';
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
