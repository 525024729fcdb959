/**
 * One entry for a whole app on Vercel: the cron path goes to {@link handleCron}, every other
 * request to the app.
 * @module
 */
import type { TaskManager } from '@gta/core';
import { type CronOptions, handleCron } from './cron.js';

/** The path `vercel.json`'s cron entry calls. */
export const DEFAULT_CRON_PATH = '/api/cron';

/** Anything with a web-standard `fetch`, such as a Hono app. */
export interface FetchApp {
  fetch(request: Request): Response | Promise<Response>;
}

export interface HandleOptions extends CronOptions {
  /** The path of the cron request. @defaultValue "/api/cron" */
  cronPath?: string;
}

/**
 * A `Request` → `Response` handler serving `app` and, at `cronPath`, the cron route. Post-commit
 * work in the app reaches Vercel's `waitUntil` through the manager's `waitUntil` option.
 * @example
 * // api/index.ts, with every path rewritten to /api in vercel.json
 * const app = new Hono().post('/api/signup', signup);
 * export const GET = handle(manager, app);
 * export const POST = GET;
 */
export function handle(
  manager: TaskManager<any>,
  app: FetchApp,
  options: HandleOptions = {},
): (request: Request) => Promise<Response> {
  const cron = handleCron(manager, options);
  const cronPath = options.cronPath ?? DEFAULT_CRON_PATH;
  return async (request) => (new URL(request.url).pathname === cronPath ? cron(request) : app.fetch(request));
}
