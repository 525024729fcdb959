/**
 * The cron trigger: each scheduled event runs one `tick`, inside `ctx.waitUntil`, sized to the
 * wall time Workers give a scheduled invocation and capped at the connections one may open.
 * @module
 */
import { describeThrown, errorCauses, type TaskManager, tickWindow } from '@gta/core';
import { WorkerInvocation } from './invocation.js';
import type { ManagerFactory, ScheduledController, WorkerContext } from './types.js';

/** Wall time Workers give a scheduled (cron) invocation: 15 minutes. */
export const DEFAULT_WALL_TIME_MS = 15 * 60 * 1000;
/** Time kept free before the wall time ends to record aborted attempts and close the client. */
export const DEFAULT_SAFETY_MARGIN_MS = 2_000;
/**
 * Most tasks one tick runs at once: Workers let an invocation hold 6 outgoing connections at once
 * (database sockets and `fetch` calls alike); tasks beyond that would only queue for one.
 */
export const DEFAULT_CONCURRENCY = 6;

export interface CronOptions {
  /** How long a scheduled invocation may run (ms). @defaultValue 900000 (15 minutes) */
  wallTimeMs?: number;
  /** Time kept free before the wall time ends (ms). @defaultValue 2000 */
  safetyMarginMs?: number;
  /** Claim for at most this long (ms), however long the invocation may run. @defaultValue no cap */
  maxBudgetMs?: number;
  /**
   * Most tasks the tick runs at once; the manager's `concurrency` caps it too.
   * @defaultValue 6, the simultaneous outgoing connections of an invocation
   */
  concurrency?: number;
}

/**
 * A module worker's `scheduled` handler. It builds the invocation's manager, then, inside
 * `ctx.waitUntil`, rescues expired leases, runs maintenance when due, and claims due tasks until
 * the budget the wall time leaves is spent; handlers still running a safety margin before the end
 * are aborted and released (their attempts not counted), and a task whose timeout would outlast
 * the wall time is not claimed. It logs the tick's report (`cron tick done`), then runs
 * the factory's `onDone` callbacks. A failed tick is logged and fails the event.
 * @example
 * // a worker that only ticks; `handle` gives a worker with routes both handlers
 * export default { scheduled: handleCron(createManager) };
 */
export function handleCron<Env, Manager extends TaskManager<any>>(
  createManager: ManagerFactory<Env, Manager>,
  options: CronOptions = {},
): (controller: ScheduledController, env: Env, ctx: WorkerContext) => void {
  const wallTimeMs = options.wallTimeMs ?? DEFAULT_WALL_TIME_MS;
  const safetyMarginMs = options.safetyMarginMs ?? DEFAULT_SAFETY_MARGIN_MS;
  const maxBudgetMs = options.maxBudgetMs ?? Number.POSITIVE_INFINITY;
  const concurrency = options.concurrency ?? DEFAULT_CONCURRENCY;
  return (controller, env, ctx) => {
    const started = Date.now();
    const invocation = new WorkerInvocation(ctx, env, createManager);
    const event = { cron: controller.cron, scheduledTime: new Date(controller.scheduledTime).toISOString() };
    const run = async () => {
      try {
        const manager = invocation.manager();
        const report = await manager.tick({
          ...tickWindow({
            timeLeftMs: started + wallTimeMs - Date.now(),
            safetyMarginMs,
            taskTimeoutMs: manager.options.taskTimeout,
            maxBudgetMs,
          }),
          concurrency,
        });
        manager.options.logger.info({ ...report, ...event }, 'cron tick done');
      } catch (error) {
        invocation.logger.error(
          { ...event, error: describeThrown(error), causes: errorCauses(error) },
          'cron tick failed',
        );
        throw error;
      } finally {
        await invocation.settle();
      }
    };
    ctx.waitUntil(run());
  };
}
