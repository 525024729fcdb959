/**
 * The function's one entry: API Gateway requests go to the Hono app (their post-commit tasks run
 * before the response, for at most 5 s), and the EventBridge schedule's events run a tick, which
 * also fires the manager's schedules that came due.
 */
import { handle, isScheduledEvent } from '@gta/aws-lambda';
import { handle as honoHandle } from 'hono/aws-lambda';
import { app } from './app.js';
import { misconfiguration } from './config.js';
import { manager } from './manager.js';

const entry = handle(manager, honoHandle(app), { waitMs: 5_000, concurrency: 5 });

/**
 * `entry`, except that a scheduled event without a database logs one line naming DATABASE_URL and
 * returns it, where the tick would fail with the driver's stack trace at every minute's event. The
 * app answers HTTP requests in that case itself.
 */
export const handler = async (event: Parameters<typeof entry>[0], context: Parameters<typeof entry>[1]) => {
  const problem = isScheduledEvent(event) ? misconfiguration('DATABASE_URL') : undefined;
  return problem === undefined ? entry(event, context) : { error: problem };
};
