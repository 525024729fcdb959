/**
 * The manager factory `handle` calls once per invocation that needs one: the invocation's
 * database and tasks, the nightly schedule, and (spread from the invocation) its `waitUntil` and
 * `signal`.
 */

import type { Invocation } from '@gta/cloudflare';
import { createTaskManager } from '@gta/core';
import { openDatabase } from './db.js';
import type { Env } from './env.js';
import { EXPIRE_INVITATIONS, expireInvitations, sendInvitation } from './tasks.js';

/**
 * Most tasks one invocation runs at once: with the pool's two sockets, four mail calls fill the
 * six connections Workers allow an invocation. Beyond it, committed tasks wait for the cron.
 */
export const CONCURRENCY = 4;

/**
 * `expire-invitations` runs nightly at 03:00 UTC. The minute cron trigger's ticks fire it, once
 * across all invocations: a schedule needs no trigger of its own.
 */
export const EXPIRE_INVITATIONS_CRON = '0 3 * * *';

export function createManager(env: Env, invocation: Invocation) {
  const { db, close } = openDatabase(env);
  invocation.onDone(close);
  const expire = expireInvitations(db);
  return createTaskManager({
    db,
    tasks: [sendInvitation(db, env), expire],
    schedules: [{ id: EXPIRE_INVITATIONS, task: expire, cron: EXPIRE_INVITATIONS_CRON }],
    concurrency: CONCURRENCY,
    ...invocation,
  });
}

export type Manager = ReturnType<typeof createManager>;
