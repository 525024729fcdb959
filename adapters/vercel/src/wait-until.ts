/**
 * The commit hook's destination on Vercel: `waitUntil` from `@vercel/functions`, which keeps the
 * function alive after the response until the work settles (up to the function's max duration).
 * @module
 */
import { consoleLogger, type Logger, type WaitUntil } from '@gta/core';
import { waitUntil as vercelWaitUntil } from '@vercel/functions';

// Where @vercel/functions looks up the current request (its `getContext`, which it does not
// export): Vercel's runtime installs `{ get() }` under this symbol and answers per request.
const REQUEST_CONTEXT = Symbol.for('@vercel/request-context');

interface RequestContextHolder {
  get?: () => { waitUntil?: unknown } | undefined;
}

/** Whether this code runs in a Vercel request whose lifetime `waitUntil` can extend. */
export function hasRequestContext(): boolean {
  const holder = (globalThis as Record<symbol, RequestContextHolder | undefined>)[REQUEST_CONTEXT];
  return typeof holder?.get?.()?.waitUntil === 'function';
}

export interface WaitUntilOptions {
  /** Where the no-request-context notice goes. @defaultValue gta's console logger */
  logger?: Logger;
}

/**
 * A `waitUntil` for the manager (or one call) that hands post-commit work to Vercel's `waitUntil`.
 *
 * Outside a Vercel request (a local script, `next dev`), `@vercel/functions` would drop the
 * promise silently; this one logs a warning instead and leaves the work running in the process:
 * if the process ends first, the tasks stay in the table and the next `tick()` runs them.
 * @example
 * const manager = createTaskManager({ db, tasks, logger, waitUntil: createWaitUntil({ logger }) });
 */
export function createWaitUntil(options: WaitUntilOptions = {}): WaitUntil {
  const logger = options.logger ?? consoleLogger();
  return (promise) => {
    if (hasRequestContext()) {
      vercelWaitUntil(promise);
      return;
    }
    logger.warn(
      {},
      'no Vercel request context: post-commit work goes on in this process without a lifetime guarantee; if the process ends first, the next tick() runs its tasks',
    );
  };
}

/**
 * {@link createWaitUntil} with gta's console logger.
 * @example
 * import { waitUntil } from '@gta/vercel';
 * export const manager = createTaskManager({ db, tasks: [sendWelcome], waitUntil });
 */
export const waitUntil: WaitUntil = createWaitUntil();
