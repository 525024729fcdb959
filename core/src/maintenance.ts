/**
 * The maintenance round as the engine runs it: take the round (at most one instance per
 * interval), report abnormal tasks to `checkCallback`, delete succeeded tasks past `storageTimeout`.
 * @module
 */
import { describeThrown } from './errors.js';
import type { ResolvedOptions } from './options.js';
import { type AbnormalThresholds, type TaskStore, toTaskRow } from './storage/index.js';

/** Most rows one abnormal-check query reports per reason. */
export const ABNORMAL_REPORT_LIMIT = 1000;
/** Rows deleted per cleanup statement; a round repeats it while time remains. */
export const CLEANUP_BATCH = 1000;

export interface MaintenanceResult {
  ran: boolean;
  abnormal: number;
  cleaned: number;
}

/**
 * Runs the maintenance round if this caller owns it; cleanup stops at `deadline` (epoch ms). A
 * tick with a known window (`tickWindow`) also reports the due tasks of its keys too long for it.
 */
export async function runMaintenance(
  store: TaskStore,
  options: ResolvedOptions,
  deadline: number,
  tickWindow: AbnormalThresholds['tickWindow'] = null,
): Promise<MaintenanceResult> {
  const round = await store.takeMaintenanceRound(options.maintenanceInterval);
  if (!round) return { ran: false, abnormal: 0, cleaned: 0 };
  const abnormal = await store.findAbnormalTasks({
    initializedTimeout: options.initializedTimeout,
    runningTimeout: options.runningTimeout,
    round,
    storageTimeout: options.storageTimeout,
    tickWindow,
    limit: ABNORMAL_REPORT_LIMIT,
  });
  if (abnormal.length > 0) {
    try {
      await options.checkCallback(
        options.logger,
        abnormal.map(({ reason, row }) => ({ reason, task: toTaskRow(row) })),
      );
    } catch (error) {
      options.logger.error({ error: describeThrown(error) }, 'checkCallback threw');
    }
  }
  let cleaned = 0;
  for (;;) {
    const deleted = await store.cleanSucceededTasks({
      storageTimeout: options.storageTimeout,
      limit: CLEANUP_BATCH,
    });
    cleaned += deleted;
    if (deleted < CLEANUP_BATCH || Date.now() >= deadline) break;
  }
  return { ran: true, abnormal: abnormal.length, cleaned };
}
