/**
 * The maintenance round as the engine runs it: take the round (at most one instance per
 * interval), report abnormal tasks to `checkCallback`, delete succeeded tasks past `storageTimeout`.
 * @module
 */
import { describeThrown } from './errors.js';
import type { ResolvedOptions } from './options.js';
import {
  type AbnormalThresholds,
  type FailureCursor,
  type MaintenanceRound,
  type TaskStore,
  toTaskRow,
} from './storage/index.js';

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
 * Runs the maintenance round if this caller owns it; the failure report and cleanup stop at
 * `deadline` (epoch ms). A tick with a known window (`tickWindow`) also reports the due tasks of
 * its keys too long for it.
 *
 * The failures are reported in pages of {@link ABNORMAL_REPORT_LIMIT}, one `checkCallback` call
 * each, until none is left. Only a report that reached `checkCallback` whole moves the next
 * round's starting point on: when a statement fails, the callback throws or the deadline comes
 * first, the next round reports again from the last complete report, so a failure may be reported
 * twice but is never missed.
 */
export async function runMaintenance(
  store: TaskStore,
  options: ResolvedOptions,
  deadline: number,
  tickWindow: AbnormalThresholds['tickWindow'] = null,
): Promise<MaintenanceResult> {
  const round = await store.takeMaintenanceRound(options.maintenanceInterval);
  if (!round) return { ran: false, abnormal: 0, cleaned: 0 };
  const report = { abnormal: 0 };
  let completed = false;
  try {
    await reportAbnormal(store, options, round, tickWindow, deadline, report);
    completed = true;
  } catch (error) {
    options.logger.error(
      { error: describeThrown(error) },
      error instanceof CallbackFailed
        ? 'checkCallback threw; the next round reports its failed tasks again'
        : 'the abnormal-task report did not complete; the next round reports again from the last complete one',
    );
  } finally {
    await store.endMaintenanceRound(round, completed);
  }
  const abnormal = report.abnormal;
  let cleaned = 0;
  for (;;) {
    const deleted = await store.cleanSucceededTasks({
      storageTimeout: options.storageTimeout,
      limit: CLEANUP_BATCH,
    });
    cleaned += deleted;
    if (deleted < CLEANUP_BATCH || Date.now() >= deadline) break;
  }
  // Slots left over are harmless (a long-free slot reads as one never taken): one batch a round.
  if (Date.now() < deadline) await store.cleanRateSlots(CLEANUP_BATCH);
  return { ran: true, abnormal, cleaned };
}

/** The error of a `checkCallback` that threw, as the cause of a report that did not complete. */
class CallbackFailed extends Error {
  constructor(readonly error: unknown) {
    super(describeThrown(error));
  }
}

/**
 * Reports the round's abnormal tasks, page by page, counting them in `report`; throws when the
 * report cannot complete.
 */
async function reportAbnormal(
  store: TaskStore,
  options: ResolvedOptions,
  round: MaintenanceRound,
  tickWindow: AbnormalThresholds['tickWindow'],
  deadline: number,
  report: { abnormal: number },
): Promise<void> {
  let failedAfter: FailureCursor | null = null;
  for (;;) {
    const page = await store.findAbnormalTasks({
      initializedTimeout: options.initializedTimeout,
      runningTimeout: options.runningTimeout,
      round,
      failedAfter,
      storageTimeout: options.storageTimeout,
      tickWindow,
      limit: ABNORMAL_REPORT_LIMIT,
    });
    report.abnormal += page.length;
    if (page.length > 0) {
      try {
        await options.checkCallback(
          options.logger,
          page.map(({ reason, row }) => ({ reason, task: toTaskRow(row) })),
        );
      } catch (error) {
        throw new CallbackFailed(error);
      }
    }
    const failed = page.filter((entry) => entry.reason === 'failed');
    if (failed.length < ABNORMAL_REPORT_LIMIT) return;
    if (Date.now() >= deadline) throw new Error('the deadline came before the last page of failures');
    failedAfter = failed.at(-1)!.cursor!;
  }
}
