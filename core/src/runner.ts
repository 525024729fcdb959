/**
 * The long-lived runner for Node servers (GTA's Start/Stop): scans every `scanInterval`, or every
 * `instantScanInterval` while due tasks remain, and stops gracefully within `waitTimeout`.
 * @module
 */
import { describeThrown } from './errors.js';
import type { Executor } from './executor.js';
import { runMaintenance } from './maintenance.js';
import { Scope } from './slots.js';
import { RESCUE_BATCH } from './tick.js';

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

  async #scanUntil(halt: AbortSignal): Promise<void> {
    const { store, options } = this.executor.deps;
    const scope = new Scope(Number.POSITIVE_INFINITY, undefined);
    let lastHousekeeping = Number.NEGATIVE_INFINITY;
    while (!halt.aborted && !this.executor.deps.stopping.aborted) {
      let pause = options.scanInterval;
      try {
        // Rescue and the maintenance upsert run once per scanInterval, not on every instant scan.
        if (Date.now() - lastHousekeeping >= options.scanInterval) {
          lastHousekeeping = Date.now();
          await store.rescueExpiredLeases(RESCUE_BATCH);
          await runMaintenance(store, options, Date.now() + options.scanInterval);
        }
        const room = this.executor.capacity(scope);
        const claimed = room > 0 ? await this.executor.claimAndStart(scope) : 0;
        // A full batch (or no room) means due tasks may remain: look again soon.
        if (room === 0 || claimed === room) pause = options.instantScanInterval;
      } catch (error) {
        options.logger.error({ error: describeThrown(error) }, 'scan failed; retrying after scanInterval');
      }
      await sleep(pause, halt);
    }
  }
}

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
