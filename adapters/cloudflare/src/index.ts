/**
 * gta on Cloudflare Workers: `handle` turns a manager factory and a Hono app into a module
 * worker whose requests start committed tasks through `ctx.waitUntil` and whose cron trigger runs
 * `tick` (`handleCron`); `gta` is the Hono middleware giving routes the request's manager, and
 * `createWaitUntil` hands post-commit work to a context's `waitUntil`.
 * @module
 */
export {
  type CronOptions,
  DEFAULT_CONCURRENCY,
  DEFAULT_SAFETY_MARGIN_MS,
  DEFAULT_WALL_TIME_MS,
  handleCron,
} from './cron.js';
export {
  DEFAULT_WAIT_UNTIL_MS,
  getManager,
  type HandleOptions,
  handle,
  type WorkerHandlers,
} from './handle.js';
export { createWaitUntil, type WaitUntilOptions, waitUntil } from './invocation.js';
export { type GtaContext, type GtaVariables, gta } from './middleware.js';
export type { FetchApp, Invocation, ManagerFactory, ScheduledController, WorkerContext } from './types.js';
