/**
 * The cron route: Vercel Cron Jobs call it with `Authorization: Bearer $CRON_SECRET`, and it runs
 * one `tick` sized to the function's deadline.
 * @module
 */
import { describeThrown, errorCauses, type TaskManager, type TickOptions, tickWindow } from '@gta/core';
import { getDeadline, waitUntil as vercelWaitUntil } from '@vercel/functions';
import { bearerMatches } from './bearer.js';
import { hasRequestContext } from './wait-until.js';

/** Vercel's default max duration with Fluid compute, on every plan. */
export const DEFAULT_MAX_DURATION_SECONDS = 300;
/** Time kept free before the function's deadline to record aborted attempts and answer. */
export const DEFAULT_SAFETY_MARGIN_MS = 2_000;

export interface CronOptions {
  /** The secret Vercel sends as `Authorization: Bearer …`. @defaultValue `process.env.CRON_SECRET`, read per request */
  secret?: string;
  /**
   * The route's max duration in seconds, as configured (`maxDuration` in `vercel.json` or the
   * route's `export const maxDuration`). Used only when the runtime reports no deadline
   * (`getDeadline()` from `@vercel/functions`). @defaultValue 300
   */
  maxDuration?: number;
  /** Time kept free before the deadline (ms). @defaultValue 2000 */
  safetyMarginMs?: number;
  /** Claim for at most this long (ms), however long the function may run. @defaultValue no cap */
  maxBudgetMs?: number;
  /** Most tasks this invocation runs at once. @defaultValue the manager's `concurrency` */
  concurrency?: number;
}

/**
 * A web-standard cron route (`Request` → `Response`): a Next.js route handler, or a handler under
 * Hono on Vercel. A request without `Authorization: Bearer <secret>` gets an empty 401 and runs
 * nothing (so does every request while the secret is unset). Otherwise it rescues expired leases,
 * runs maintenance when due and claims due tasks until the budget the deadline leaves is spent,
 * then answers with the tick's report as JSON. Inside a Vercel request, tasks still running when
 * nothing more is due are handed to `waitUntil`, so the response does not wait for them.
 * @example
 * // app/api/cron/route.ts
 * export const maxDuration = 60;
 * export const GET = handleCron(manager, { maxDuration });
 */
export function handleCron(
  manager: TaskManager<any>,
  options: CronOptions = {},
): (request: Request) => Promise<Response> {
  const logger = manager.options.logger;
  const maxDurationMs = (options.maxDuration ?? DEFAULT_MAX_DURATION_SECONDS) * 1000;
  return async (request) => {
    const started = Date.now();
    const secret = options.secret ?? environmentSecret();
    if (!secret) {
      logger.error({}, 'CRON_SECRET is not set: every cron request is refused');
      return unauthorized();
    }
    if (!(await bearerMatches(request.headers.get('authorization'), secret))) return unauthorized();
    try {
      const deadline = getDeadline()?.getTime() ?? started + maxDurationMs;
      const tick: TickOptions = {
        ...tickWindow({
          timeLeftMs: deadline - Date.now(),
          safetyMarginMs: options.safetyMarginMs ?? DEFAULT_SAFETY_MARGIN_MS,
          taskTimeoutMs: manager.options.taskTimeout,
          maxBudgetMs: options.maxBudgetMs ?? Number.POSITIVE_INFINITY,
        }),
        ...(options.concurrency === undefined ? {} : { concurrency: options.concurrency }),
        ...(hasRequestContext() ? { waitUntil: vercelWaitUntil } : {}),
      };
      const report = await manager.tick(tick);
      logger.info({ ...report }, 'cron tick done');
      return Response.json(report);
    } catch (error) {
      logger.error({ error: describeThrown(error), causes: errorCauses(error) }, 'cron tick failed');
      return new Response(null, { status: 500 });
    }
  };
}

function unauthorized(): Response {
  return new Response(null, { status: 401, headers: { 'www-authenticate': 'Bearer' } });
}

// Read without Node's types: the route may run on the Edge runtime, where `process` is optional.
function environmentSecret(): string | undefined {
  const environment = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env;
  return environment?.CRON_SECRET || undefined;
}
