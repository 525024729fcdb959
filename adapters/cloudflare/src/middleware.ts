/**
 * The Hono middleware form: the request's manager on `c.var.gta`.
 * @module
 */
import type { TaskManager } from '@gta/core';
import { getManager } from './handle.js';
import type { WorkerContext } from './types.js';

/** The Hono variables {@link gta} sets: `new Hono<{ Bindings: Env; Variables: GtaVariables<Manager> }>()`. */
export interface GtaVariables<Manager extends TaskManager<any> = TaskManager<any>> {
  gta: Manager;
}

/** The part of Hono's `Context` the middleware uses. */
export interface GtaContext<Manager extends TaskManager<any>> {
  readonly executionCtx: WorkerContext;
  set(key: 'gta', manager: Manager): void;
}

/**
 * Hono middleware that puts the request's manager on `c.var.gta`: the one {@link handle} builds
 * for the request from `c.env`, its commit hook on `c.executionCtx.waitUntil`. Mount it on the
 * routes that use tasks; the manager (and its database client) is built when it runs.
 * @example
 * const app = new Hono<{ Bindings: Env; Variables: GtaVariables<Manager> }>();
 * app.use('/api/*', gta());
 * app.post('/api/signup', async (c) => {
 *   await c.var.gta.transaction(async (tx) => { … await c.var.gta.enqueue(sendWelcome, { userId }, { tx }); });
 *   return c.body(null, 201);
 * });
 * export default handle(createManager, app);
 */
export function gta<Manager extends TaskManager<any> = TaskManager<any>>(): (
  c: GtaContext<Manager>,
  next: () => Promise<void>,
) => Promise<void> {
  return async (c, next) => {
    c.set('gta', getManager<Manager>(c.executionCtx));
    await next();
  };
}
