/**
 * The Workers shapes gta reads, declared by shape: the runtime's objects fit, and so do the types
 * of `@cloudflare/workers-types` and Hono's, without the adapter depending on either.
 * @module
 */
import type { TaskManager, WaitUntil } from '@gta/core';

/** The part of a Worker's `ExecutionContext` (`ctx`, Hono's `c.executionCtx`) gta uses. */
export interface WorkerContext {
  waitUntil(promise: Promise<unknown>): void;
}

/** The part of a cron event's `ScheduledController` gta reads. */
export interface ScheduledController {
  /** The cron expression that fired, as written in `wrangler.toml`. */
  readonly cron: string;
  /** When the event was scheduled to run (ms since the epoch). */
  readonly scheduledTime: number;
}

/**
 * What the adapter hands the manager factory for one invocation. Its `waitUntil` and `signal` are
 * manager options: spread the invocation into `createTaskManager`'s options (it copies those two
 * and nothing else), and register with `onDone` the closing of the client the factory opens.
 */
export interface Invocation {
  /**
   * Where the commit hook's work goes: the invocation's `ctx.waitUntil`, so it runs after the
   * response. For the manager's `waitUntil` option.
   */
  readonly waitUntil: WaitUntil;
  /**
   * Aborts a safety margin before Workers would cancel the work left to `waitUntil` after a
   * response, so running tasks go back to `initialized` for the next tick instead of being cut
   * off. For the manager's `signal` option. In a cron invocation the tick's own deadline applies.
   */
  readonly signal: AbortSignal;
  /**
   * Runs `close` once the work this invocation handed to `waitUntil` has settled, still inside
   * `ctx.waitUntil`: end the database client the factory opened here (a socket cannot outlive its
   * invocation on Workers).
   */
  onDone(close: () => unknown): void;
}

/**
 * Builds the manager for one invocation from the Worker's `env` (bindings and secrets arrive with
 * each request). Called at most once per invocation, when the invocation first needs a manager.
 */
export type ManagerFactory<Env, Manager extends TaskManager<any> = TaskManager<any>> = (
  env: Env,
  invocation: Invocation,
) => Manager;

/**
 * Anything with a module worker's `fetch`, such as a Hono app. `Ctx` is the context type it
 * declares (optional in Hono's); the worker passes the runtime's context on.
 */
export interface FetchApp<Env, Ctx extends WorkerContext | undefined = WorkerContext> {
  fetch(request: Request, env: Env, ctx: Ctx): Response | Promise<Response>;
}
