/**
 * How a tick spends the time its invocation has left: running handlers are aborted a safety margin
 * before the platform ends the function, and claiming stops early enough for the tasks claimed
 * last to finish within their timeout. Every runtime adapter sizes its ticks with this.
 * @module
 */
import { ERROR_CODES, GtaError } from './errors.js';

/** The `budgetMs`, `signal` and `deadline` of one tick. */
export interface TickWindow {
  budgetMs: number;
  signal: AbortSignal;
  /** When `signal` aborts (epoch ms): the tick claims no task whose timeout would outlast it. */
  deadline: number;
}

export interface TickWindowInput {
  /** Milliseconds until the platform ends the invocation. */
  timeLeftMs: number;
  safetyMarginMs: number;
  /** The manager's `taskTimeout`: how long the tasks claimed last may still run. */
  taskTimeoutMs: number;
  maxBudgetMs: number;
}

/**
 * The signal aborts at `timeLeftMs - safetyMarginMs` (the `deadline`), leaving the margin to record
 * the aborted attempts and answer. Claiming stops `taskTimeoutMs` before that, or halfway when the
 * invocation is shorter than two task timeouts, and never later than `maxBudgetMs`; a task whose
 * own timeout would outlast the deadline is not claimed at all.
 * @example
 * await manager.tick({ concurrency: 10, ...tickWindow({ timeLeftMs: 60_000, safetyMarginMs: 2000, taskTimeoutMs: 10_000, maxBudgetMs: 50_000 }) });
 */
export function tickWindow({
  timeLeftMs,
  safetyMarginMs,
  taskTimeoutMs,
  maxBudgetMs,
}: TickWindowInput): TickWindow {
  const usableMs = timeLeftMs - safetyMarginMs;
  if (!(usableMs > 0)) {
    throw new GtaError(
      ERROR_CODES.invalidOption,
      `the invocation has ${timeLeftMs} ms left, within its safety margin of ${safetyMarginMs} ms: raise the function's time limit or lower safetyMarginMs`,
    );
  }
  const budgetMs = Math.min(maxBudgetMs, usableMs - Math.min(taskTimeoutMs, usableMs / 2));
  return { budgetMs, signal: AbortSignal.timeout(usableMs), deadline: Date.now() + usableMs };
}
