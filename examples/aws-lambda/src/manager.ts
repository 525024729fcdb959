/**
 * The task manager. `waitUntil` from `@gta/aws-lambda` hands committed tasks to the invocation,
 * which awaits them before returning (Lambda freezes the sandbox as soon as the handler returns).
 */

import { waitUntil } from '@gta/aws-lambda';
import { createTaskManager } from '@gta/core';
import { db } from './db.js';
import { sendWelcome } from './tasks.js';

export const manager = createTaskManager({ db, tasks: [sendWelcome], concurrency: 5, waitUntil });
