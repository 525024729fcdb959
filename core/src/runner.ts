/**
 * The long-lived runner for Node servers (GTA's Start/Stop): scans every `scanInterval`, or every
 * `instantScanInterval` while due tasks remain, and stops gracefully within `waitTimeout`.
 * @module
 */
import { describeThrown } from './errors.js';
import type { Executor } from './executor.js';
import { runMaintenance } from './maintenance.js';
import { clockNow } from './options.js';
import { fireSchedules, RESCUE_BATCH, runTick } from './tick.js';

export class Runner {
  #loop: Promise<void> | null = null;
  #halt: AbortController | null = null;

  constructor(
    readonly executor: Executor,
    /** Aborts every running attempt; they are released back to `initialized`. */
    readonly abortRunning: () => void,
  ) {}

  get running(): boolean {
    return this.#loop !== null;
  }

  start(): void {
    if (this.#loop) return;
    const halt = new AbortController();
    this.#halt = halt;
    this.#loop = this.#scanUntil(halt.signal);
  }

  async stop({ wait = true }: { wait?: boolean } = {}): Promise<void> {
    this.#halt?.abort();
    await this.#loop;
    this.#loop = null;
    this.#halt = null;
    const { waitTimeout } = this.executor.deps.options;
    if (wait) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const timedOut = Number.isFinite(waitTimeout)
        ? new Promise<void>((resolve) => {
            timer = setTimeout(resolve, waitTimeout);
          })
        : new Promise<void>(() => {});
      await Promise.race([this.executor.idle(), timedOut]);
      clearTimeout(timer);
    }
    this.abortRunning();
    await this.executor.idle();
  }

  /**
   * Ticks until halted: each tick claims ahead and starts tasks as slots free, as a cron tick does,
   * and hands its running tasks on (the executor counts them for `stop`), so the next tick claims
   * while they run. A tick that found work is followed at once by the next, after
   * `instantScanInterval`; an idle one after `scanInterval`. Rescue and the maintenance round run
   * once per `scanInterval`; the schedule round whenever a slot came due since the last (and again
   * shortly while a due slot stays unsettled), and an idle runner wakes for the next slot.
   */
  async #scanUntil(halt: AbortSignal): Promise<void> {
    const { store, options } = this.executor.deps;
    let lastHousekeeping = Number.NEGATIVE_INFINITY;
    let lastScheduleRound = Number.NEGATIVE_INFINITY;
    while (!halt.aborted && !this.executor.deps.stopping.aborted) {
      let pause = options.scanInterval;
      try {
        const housekeeping = Date.now() - lastHousekeeping >= options.scanInterval;
        if (housekeeping) {
          lastHousekeeping = Date.now();
          await store.rescueExpiredLeases(RESCUE_BATCH);
          await runMaintenance(store, options, Date.now() + options.scanInterval);
        }
        const now = clockNow(options);
        if (this.executor.deps.schedules.roundWanted(lastScheduleRound, now)) {
          lastScheduleRound = now;
          await fireSchedules(this.executor);
        }
        // A busy tick goes on until its budget: it ends by the next slot, so that the slot's round
        // is not held back behind a backlog.
        const nextRound = this.executor.deps.schedules.msToNextRound(clockNow(options));
        const budgetMs = Math.max(MIN_TICK_BUDGET_MS, Math.min(options.scanInterval, nextRound));
        const report = await runTick(this.executor, { budgetMs, waitUntil: handOn }, { housekeeping: false });
        if (report.claimed > 0) pause = options.instantScanInterval;
        else pause = Math.min(pause, this.executor.deps.schedules.msToNextRound(clockNow(options)));
      } catch (error) {
        options.logger.error({ error: describeThrown(error) }, 'scan failed; retrying after scanInterval');
      }
      await sleep(pause, halt);
    }
  }
}

/** The shortest budget of a runner's tick, however soon a slot comes due. */
const MIN_TICK_BUDGET_MS = 50;

/** Where a runner's ticks hand their running tasks: nowhere, as the executor counts them already. */
const handOn = (): void => {};

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}
