/**
 * `tick`: one bounded scanner step for a cron trigger. It rescues expired leases, runs the
 * maintenance round when due, then claims and runs due tasks until its budget is spent or nothing
 * is due, never running more than its concurrency cap at once.
 *
 * While its handlers are quick, a tick claims ahead: it keeps a local queue of claimed tasks, so
 * that one claim statement serves many tasks instead of one per freed slot.
 * @module
 */
import { ERROR_CODES, GtaError } from './errors.js';
import type { Executor } from './executor.js';
import { runMaintenance } from './maintenance.js';
import { clockNow, DEFAULT_TICK_BUDGET } from './options.js';
import { Scope } from './slots.js';
import type { TickOptions, TickReport } from './types.js';

/** Most expired leases one tick rescues. */
export const RESCUE_BATCH = 1000;
/**
 * A tick queues at most this many claimed tasks per slot of its cap. Each claiming statement
 * carries about half a queue, and its cost is mostly per statement: in A/B drains of quick tasks
 * (`npm run ab -w @gta/bench`), 32 per slot drained 1.2× and 64 per slot 1.4× as fast as 16.
 */
export const QUEUE_FACTOR = 64;
/**
 * A tick queues about as many tasks as its handlers finished in this much time, so that queued
 * tasks start well within their allowance (`QUEUE_WAIT_MS`); slow handlers get no queue.
 */
export const QUEUE_HORIZON_MS = 200;
/**
 * Argument text a tick keeps queued at most (in characters, as the rows arrive): tasks with large
 * arguments get a shorter queue, so a tick's memory stays bounded on small runtimes.
 */
export const QUEUE_ARGUMENT_CHARS = 8 * 1024 * 1024;
/** Tasks a tick holds (queued, running, or being recorded) at most, per slot of its cap. */
export const HELD_FACTOR = 2 * (1 + QUEUE_FACTOR);

/**
 * How many claimed tasks a tick queues: at most {@link QUEUE_FACTOR} per slot, what its handlers
 * finish in {@link QUEUE_HORIZON_MS}, and {@link QUEUE_ARGUMENT_CHARS} of argument text.
 */
export function queueTarget(input: {
  cap: number;
  /** Handlers finished per millisecond so far. */
  throughput: number;
  /** Mean argument and context length of the tasks claimed last (0 before the first claim). */
  averageArgChars: number;
}): number {
  return Math.min(
    QUEUE_FACTOR * input.cap,
    Math.floor(input.throughput * QUEUE_HORIZON_MS),
    Math.floor(QUEUE_ARGUMENT_CHARS / Math.max(1, input.averageArgChars)),
  );
}

/**
 * How many tasks the tick claims now: its idle slots plus the room in its queue. While half the
 * queue is still waiting it claims nothing, so claims come in batches, and the next batch arrives
 * while the rest of the queue runs.
 */
function claimWanted(executor: Executor, scope: Scope): number {
  const idle = Math.max(0, executor.capacity(scope) - scope.queue.length);
  const target = queueTarget({
    cap: scope.cap,
    throughput: scope.throughput(),
    averageArgChars: scope.averageArgChars(),
  });
  if (idle === 0 && (scope.running === 0 || scope.queue.length > target / 2)) return 0;
  const room = HELD_FACTOR * scope.cap - scope.held;
  return Math.max(0, Math.min(idle + target - scope.queue.length, room));
}

/** A tick's report of nothing done. */
export function emptyReport(started = Date.now()): TickReport {
  const zero = {
    claimed: 0,
    succeeded: 0,
    failed: 0,
    retried: 0,
    cancelled: 0,
    rescued: 0,
    cleaned: 0,
    abnormal: 0,
    scheduled: 0,
  };
  return { ...zero, maintenance: false, durationMs: Date.now() - started };
}

function deadlineOf(deadline: TickOptions['deadline']): number {
  if (deadline === undefined) return Number.POSITIVE_INFINITY;
  const ms = deadline instanceof Date ? deadline.getTime() : deadline;
  if (typeof ms !== 'number' || Number.isNaN(ms)) {
    throw new GtaError(ERROR_CODES.invalidArgument, `tick deadline must be a time, got ${String(deadline)}`);
  }
  return ms;
}

/** The schedule round at the manager's clock; how many tasks it enqueued (it never throws). */
export function fireSchedules(executor: Executor): Promise<number> {
  const { schedules, store, options } = executor.deps;
  return schedules.fire(store, options, clockNow(options));
}

/**
 * One tick. `housekeeping: false` skips the lease rescue, the maintenance round and the schedule round, for a caller
 * that runs them on a clock of its own (the long-lived runner, which ticks many times a second).
 */
export async function runTick(
  executor: Executor,
  options: TickOptions,
  { housekeeping = true }: { housekeeping?: boolean } = {},
): Promise<TickReport> {
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
  const endsAt = deadlineOf(options.deadline);
  const deadline = started + budgetMs;
  const { store, options: resolved } = executor.deps;
  // A stopping manager claims and starts nothing, and leaves the housekeeping to other instances.
  if (executor.deps.stopping.aborted) return emptyReport(started);
  const scope = new Scope(concurrency, options.signal, deadline, endsAt);

  const window = Number.isFinite(endsAt)
    ? { ms: endsAt - started, keys: executor.deps.registry.keys() }
    : null;
  const rescue = housekeeping
    ? await store.rescueExpiredLeases(RESCUE_BATCH)
    : { retried: 0, failed: 0, cancelled: 0 };
  const maintenance = housekeeping
    ? await runMaintenance(store, resolved, deadline, window)
    : { ran: false, abnormal: 0, cleaned: 0 };
  // Before the claims, so that the tasks it fires run in this tick.
  const scheduled = housekeeping ? await fireSchedules(executor) : 0;

  try {
    // The first round always claims, so housekeeping that used up a tiny budget cannot starve tasks.
    for (let round = 0; (round === 0 || Date.now() < deadline) && !options.signal?.aborted; round++) {
      const wanted = claimWanted(executor, scope);
      const doneBefore = scope.workDone;
      const { claimed, more } =
        wanted > 0 ? await executor.claimAndStart(scope, undefined, wanted) : { claimed: 0, more: false };
      // Work that ended meanwhile may have made a task due (the next in its sequence, a child)
      // that the claim, sent with that work's completion, could not see yet.
      if (!more && claimed === 0 && scope.inflight === 0 && scope.workDone === doneBefore) break;
      // Nothing more is due: with a waitUntil the running tasks are handed over, else wait for one
      // to finish, as its nested tasks or a retry may become due. (A claim that passed over tasks
      // of groups at their limits may leave more due behind them: the next round looks.)
      const exhausted = wanted > 0 && !more;
      if (exhausted && options.waitUntil) break;
      if (exhausted || wanted === 0) {
        await scope.nextChange(deadline - Date.now(), () => claimWanted(executor, scope) > 0);
      }
    }
  } finally {
    if (options.waitUntil) options.waitUntil(scope.settled());
    else await scope.settled();
  }
  return {
    ...scope.counts,
    rescued: rescue.retried + rescue.failed + rescue.cancelled,
    cleaned: maintenance.cleaned,
    abnormal: maintenance.abnormal,
    scheduled,
    maintenance: maintenance.ran,
    durationMs: Date.now() - started,
  };
}
