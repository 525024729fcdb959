/**
 * `tick`: one bounded scanner step for a cron trigger. It rescues expired leases, runs the
 * maintenance round when due, then claims and runs due tasks until its budget is spent or nothing
 * is due, never running more than its concurrency cap at once.
 * @module
 */
import { ERROR_CODES, GtaError } from './errors.js';
import type { Executor } from './executor.js';
import { runMaintenance } from './maintenance.js';
import { DEFAULT_TICK_BUDGET } from './options.js';
import { Scope } from './slots.js';
import { rescueExpiredLeases } from './storage/index.js';
import type { TickOptions, TickReport } from './types.js';

/** Most expired leases one tick rescues. */
export const RESCUE_BATCH = 1000;

export async function runTick(executor: Executor, options: TickOptions): Promise<TickReport> {
  const started = Date.now();
  const budgetMs = options.budgetMs ?? DEFAULT_TICK_BUDGET;
  const concurrency = options.concurrency ?? executor.deps.options.concurrency;
  if (!(typeof budgetMs === 'number' && budgetMs > 0)) {
    throw new GtaError(
      ERROR_CODES.invalidArgument,
      `tick budgetMs must be a number > 0, got ${String(budgetMs)}`,
    );
  }
  if (!Number.isInteger(concurrency) || concurrency < 1) {
    throw new GtaError(
      ERROR_CODES.invalidArgument,
      `tick concurrency must be a whole number ≥ 1, got ${concurrency}`,
    );
  }
  const deadline = started + budgetMs;
  const { storage, options: resolved } = executor.deps;
  const scope = new Scope(concurrency, options.signal);

  const rescue = await rescueExpiredLeases(storage, RESCUE_BATCH);
  const maintenance = await runMaintenance(storage, resolved, deadline);

  try {
    // The first round always claims, so housekeeping that used up a tiny budget cannot starve tasks.
    for (let round = 0; (round === 0 || Date.now() < deadline) && !options.signal?.aborted; round++) {
      const room = executor.capacity(scope);
      const claimed = room > 0 ? await executor.claimAndStart(scope) : 0;
      if (claimed === 0 && scope.inflight === 0) break;
      // Nothing more is due: with a waitUntil the running tasks are handed over, else wait for one
      // to finish, as its nested tasks or a retry may become due.
      if (claimed < room && options.waitUntil) break;
      if (claimed < room || room === 0) await scope.nextSettled(deadline - Date.now());
    }
  } finally {
    if (options.waitUntil) options.waitUntil(scope.settled());
    else await scope.settled();
  }
  return {
    ...scope.counts,
    rescued: rescue.retried + rescue.failed,
    cleaned: maintenance.cleaned,
    abnormal: maintenance.abnormal,
    maintenance: maintenance.ran,
    durationMs: Date.now() - started,
  };
}
