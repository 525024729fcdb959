/**
 * The task manager every route shares. `waitUntil` from `@gta/vercel` starts committed tasks right
 * after the response, through Vercel's `waitUntil`.
 */
import { createTaskManager } from '@gta/core';
import { waitUntil } from '@gta/vercel';
import { db } from './db.js';
import { sendWelcome } from './tasks.js';

export const manager = createTaskManager({ db, tasks: [sendWelcome], concurrency: 5, waitUntil });
