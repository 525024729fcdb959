/**
 * gta on Vercel Functions: `handleCron` is the cron route (checked against `CRON_SECRET`) that runs
 * `tick` within the function's deadline, `waitUntil` starts committed tasks after the response
 * through `@vercel/functions`, and `handle` serves an app and the cron path from one function.
 * @module
 */
export {
  type CronOptions,
  DEFAULT_MAX_DURATION_SECONDS,
  DEFAULT_SAFETY_MARGIN_MS,
  handleCron,
} from './cron.js';
export { DEFAULT_CRON_PATH, type FetchApp, type HandleOptions, handle } from './handle.js';
export { createWaitUntil, type WaitUntilOptions, waitUntil } from './wait-until.js';
