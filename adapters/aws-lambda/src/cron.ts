/**
 * The scheduled entry: an EventBridge rule invokes the function, which runs one `tick` sized to
 * the time Lambda gives the invocation.
 * @module
 */
import { describeThrown, errorCauses, type TaskManager, type TickReport, tickWindow } from '@gta/core';
import { withInvocation } from './invocation.js';
import type { LambdaContext, ScheduledEvent } from './types.js';

/** Time kept free before the function's timeout to record aborted attempts and return. */
export const DEFAULT_SAFETY_MARGIN_MS = 2_000;

export interface CronOptions {
  /** Time kept free before the function's timeout (ms). @defaultValue 2000 */
  safetyMarginMs?: number;
  /** Claim for at most this long (ms), however long the function may run. @defaultValue no cap */
  maxBudgetMs?: number;
  /** Most tasks this invocation runs at once. @defaultValue the manager's `concurrency` */
  concurrency?: number;
}

/**
 * A handler for EventBridge scheduled events. It rescues expired leases, runs maintenance when
 * due, and claims due tasks until the budget left by `context.getRemainingTimeInMillis()` minus the
 * safety margin is spent; it awaits the tasks it started (handlers still running at the margin are
 * aborted and released, their attempts not counted; a task whose timeout would outlast the margin
 * is not claimed) and returns the tick's report.
 * @example
 * // template.yaml: Events: { Tick: { Type: Schedule, Properties: { Schedule: rate(1 minute) } } }
 * export const handler = handleCron(manager);
 */
export function handleCron(
  manager: TaskManager<any>,
  options: CronOptions = {},
): (event: ScheduledEvent, context: LambdaContext) => Promise<TickReport> {
  const logger = manager.options.logger;
  const safetyMarginMs = options.safetyMarginMs ?? DEFAULT_SAFETY_MARGIN_MS;
  return (event, context) =>
    withInvocation(logger, context, { waitMs: Number.POSITIVE_INFINITY, safetyMarginMs }, async () => {
      try {
        const report = await manager.tick({
          ...tickWindow({
            timeLeftMs: context.getRemainingTimeInMillis(),
            safetyMarginMs,
            taskTimeoutMs: manager.options.taskTimeout,
            maxBudgetMs: options.maxBudgetMs ?? Number.POSITIVE_INFINITY,
          }),
          ...(options.concurrency === undefined ? {} : { concurrency: options.concurrency }),
        });
        logger.info(
          { ...report, awsRequestId: context.awsRequestId, scheduledFor: event.time },
          'cron tick done',
        );
        return report;
      } catch (error) {
        logger.error(
          { awsRequestId: context.awsRequestId, error: describeThrown(error), causes: errorCauses(error) },
          'cron tick failed',
        );
        throw error;
      }
    });
}
