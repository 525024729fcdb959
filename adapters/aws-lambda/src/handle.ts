/**
 * One entry for a whole function: HTTP requests go to the user's handler, whose post-commit work
 * is awaited before the response within a bound, and EventBridge scheduled events go to
 * {@link handleCron}.
 * @module
 */
import type { TaskManager, TickReport } from '@gta/core';
import { type CronOptions, DEFAULT_SAFETY_MARGIN_MS, handleCron } from './cron.js';
import { withInvocation } from './invocation.js';
import { isScheduledEvent, type LambdaContext, type ScheduledEvent } from './types.js';

/** Longest an HTTP response waits for post-commit work; API Gateway gives up after 29–30 s. */
export const DEFAULT_WAIT_MS = 10_000;

export interface HandleOptions extends CronOptions {
  /**
   * Longest an HTTP response waits for post-commit work (ms); it never waits past the safety margin
   * before the function's timeout either. What has not finished then stays in the table for the
   * next tick. @defaultValue 10000
   */
  waitMs?: number;
}

/**
 * An async Lambda handler for HTTP events. `...callback: never[]` also admits handlers typed with
 * aws-lambda's `Handler`, whose third parameter (the callback) async handlers never use.
 */
export type HttpHandler = (event: any, context: any, ...callback: never[]) => unknown;

/**
 * Wraps an HTTP handler (a plain async Lambda handler, or Hono's `handle(app)` from
 * `hono/aws-lambda`) so the tasks its transactions commit run before it returns, and routes
 * EventBridge scheduled events of the same function to {@link handleCron}. The response waits for
 * the post-commit work at most `waitMs`, and never past the safety margin before Lambda's timeout.
 * @example
 * import { handle as honoHandle } from 'hono/aws-lambda';
 * export const handler = handle(manager, honoHandle(app));
 */
export function handle<Http extends HttpHandler>(
  manager: TaskManager<any>,
  http: Http,
  options: HandleOptions = {},
): (
  event: Parameters<Http>[0] | ScheduledEvent,
  context: LambdaContext & Parameters<Http>[1],
) => Promise<Awaited<ReturnType<Http>> | TickReport> {
  const cron = handleCron(manager, options);
  const bounds = {
    waitMs: options.waitMs ?? DEFAULT_WAIT_MS,
    safetyMarginMs: options.safetyMarginMs ?? DEFAULT_SAFETY_MARGIN_MS,
  };
  type Result = Awaited<ReturnType<Http>>;
  return (event, context) =>
    isScheduledEvent(event)
      ? cron(event, context)
      : withInvocation(
          manager.options.logger,
          context,
          bounds,
          () => http(event, context) as Result | Promise<Result>,
        );
}
