/**
 * One entry for a whole worker: a module-worker export whose `fetch` serves the app with a
 * manager per request (its commit hook on the request's `ctx.waitUntil`) and whose `scheduled`
 * is {@link handleCron}.
 * @module
 */
import { ERROR_CODES, GtaError, type TaskManager } from '@gta/core';
import { type CronOptions, DEFAULT_SAFETY_MARGIN_MS, handleCron } from './cron.js';
import { WorkerInvocation } from './invocation.js';
import type { FetchApp, ManagerFactory, ScheduledController, WorkerContext } from './types.js';

/** Workers cancel work left to `waitUntil` 30 s after the response has ended. */
export const DEFAULT_WAIT_UNTIL_MS = 30_000;

export interface HandleOptions extends CronOptions {
  /**
   * How long Workers keep the work handed to `waitUntil` alive after the response (ms). A safety
   * margin before that, the request's manager stops: tasks still running go back to `initialized`
   * (the attempt not counted) and the next tick runs them. @defaultValue 30000
   */
  waitUntilMs?: number;
}

/** A module worker's export: `export default handle(…)`. */
export interface WorkerHandlers<Env, Ctx extends WorkerContext | undefined = WorkerContext> {
  fetch(request: Request, env: Env, ctx: NonNullable<Ctx>): Promise<Response>;
  scheduled(controller: ScheduledController, env: Env, ctx: WorkerContext): void;
}

// The invocation of each request `handle` serves, by its context: Hono hands the same object to
// middleware as `c.executionCtx`, and it is collected with the request.
const invocations = new WeakMap<WorkerContext, WorkerInvocation<any, any>>();

/**
 * The manager of the request `handle` is serving: built by the factory on first use, the same for
 * the rest of the request. For a plain `fetch` handler; a Hono app uses the {@link gta} middleware.
 * @example
 * export default handle(createManager, {
 *   async fetch(request, env, ctx) {
 *     const id = await getManager(ctx).enqueue(sendWelcome, { userId: 1 });
 *     return Response.json({ id });
 *   },
 * });
 */
export function getManager<Manager extends TaskManager<any> = TaskManager<any>>(ctx: WorkerContext): Manager {
  const invocation = invocations.get(ctx);
  if (!invocation) {
    throw new GtaError(
      ERROR_CODES.invalidArgument,
      'getManager: this request is not served by handle() from @gta/cloudflare; export default handle(createManager, app)',
    );
  }
  return invocation.manager() as Manager;
}

/**
 * Turns a manager factory and an app into a module worker. `fetch` serves the app and gives it a
 * manager per request ({@link getManager}, or `c.var.gta` through the {@link gta} middleware),
 * whose commit hook runs through the request's `ctx.waitUntil`, after the response. Once the
 * response is out it stops that manager a safety margin before Workers would cancel its work, and
 * runs the factory's `onDone` callbacks when the work has settled. `scheduled` is
 * {@link handleCron}.
 * @example
 * // src/index.ts
 * const app = new Hono<{ Bindings: Env; Variables: GtaVariables<Manager> }>();
 * app.use(gta());
 * app.post('/signup', (c) => signup(c.var.gta, c));
 * export default handle(createManager, app);
 */
export function handle<Env, Manager extends TaskManager<any>, Ctx extends WorkerContext | undefined>(
  createManager: ManagerFactory<Env, Manager>,
  app: FetchApp<Env, Ctx>,
  options: HandleOptions = {},
): WorkerHandlers<Env, Ctx> {
  const stopAfterMs =
    (options.waitUntilMs ?? DEFAULT_WAIT_UNTIL_MS) - (options.safetyMarginMs ?? DEFAULT_SAFETY_MARGIN_MS);
  if (!(stopAfterMs > 0)) {
    throw new GtaError(ERROR_CODES.invalidOption, 'handle: waitUntilMs must be longer than safetyMarginMs');
  }
  return {
    async fetch(request, env, ctx) {
      const invocation = new WorkerInvocation(ctx, env, createManager);
      invocations.set(ctx, invocation);
      try {
        return await app.fetch(request, env, ctx);
      } finally {
        if (invocation.started) {
          invocation.abortIn(stopAfterMs);
          ctx.waitUntil(invocation.settle());
        }
      }
    },
    scheduled: handleCron(createManager, options),
  };
}
