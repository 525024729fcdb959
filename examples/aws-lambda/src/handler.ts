/**
 * The function's one entry: API Gateway requests go to the Hono app (their post-commit tasks run
 * before the response, for at most 5 s), and the EventBridge schedule's events run a tick, which
 * also fires the manager's schedules that came due.
 */
import { handle } from '@gta/aws-lambda';
import { handle as honoHandle } from 'hono/aws-lambda';
import { app } from './app.js';
import { manager } from './manager.js';

export const handler = handle(manager, honoHandle(app), { waitMs: 5_000, concurrency: 5 });
