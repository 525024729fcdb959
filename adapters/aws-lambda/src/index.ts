/**
 * gta on AWS Lambda: `handleCron` runs `tick` for EventBridge scheduled events within the
 * invocation's remaining time, `waitUntil` collects post-commit work (Lambda has no `waitUntil` of
 * its own), and `handle` wraps an HTTP handler so that work is awaited before the response, within
 * a bound, while routing the function's scheduled events to `handleCron`.
 * @module
 */
export { type CronOptions, DEFAULT_SAFETY_MARGIN_MS, handleCron } from './cron.js';
export { DEFAULT_WAIT_MS, type HandleOptions, type HttpHandler, handle } from './handle.js';
export { createWaitUntil, type WaitUntilOptions, waitUntil } from './invocation.js';
export { isScheduledEvent, type LambdaContext, type ScheduledEvent } from './types.js';
