/**
 * The manager factory `handle` calls once per invocation that needs one: the invocation's
 * database and task, and (spread from the invocation) its `waitUntil` and `signal`.
 */

import type { Invocation } from '@gta/cloudflare';
import { createTaskManager } from '@gta/core';
import { openDatabase } from './db.js';
import type { Env } from './env.js';
import { sendInvitation } from './tasks.js';

/**
 * Most tasks one invocation runs at once: with the pool's two sockets, four mail calls fill the
 * six connections Workers allow an invocation. Beyond it, committed tasks wait for the cron.
 */
export const CONCURRENCY = 4;

export function createManager(env: Env, invocation: Invocation) {
  const { db, close } = openDatabase(env);
  invocation.onDone(close);
  return createTaskManager({
    db,
    tasks: [sendInvitation(db, env)],
    concurrency: CONCURRENCY,
    ...invocation,
  });
}

export type Manager = ReturnType<typeof createManager>;
