/**
 * Lambda has no `waitUntil`: the sandbox is frozen as soon as the handler returns. So each
 * invocation collects the post-commit work started while it runs, and awaits it before returning,
 * for at most a bound; work still running then is frozen with the sandbox, and the tasks it had
 * not finished stay in the table for the next tick.
 * @module
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { consoleLogger, describeThrown, type Logger, type WaitUntil } from '@gta/core';
import type { LambdaContext } from './types.js';

class Invocation {
  readonly #pending = new Set<Promise<unknown>>();
  #open = true;

  constructor(readonly logger: Logger) {}

  /** Keeps `promise` for {@link Invocation.settle}; false once the invocation has answered. */
  hold(promise: Promise<unknown>): boolean {
    if (!this.#open) return false;
    this.#pending.add(promise);
    const done = () => this.#pending.delete(promise);
    promise.then(done, (error: unknown) => {
      done();
      this.logger.error({ error: describeThrown(error) }, 'work handed to waitUntil failed');
    });
    return true;
  }

  /**
   * Waits until the held work (including work held while waiting) has settled, or `timeoutMs` has
   * passed, and closes the invocation. Returns how much work was still running.
   */
  async settle(timeoutMs: number): Promise<number> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const expired = new Promise<'expired'>((resolve) => {
      timer = setTimeout(() => resolve('expired'), Math.max(0, timeoutMs));
    });
    try {
      while (this.#pending.size > 0) {
        const all = Promise.allSettled([...this.#pending]).then(() => 'settled' as const);
        if ((await Promise.race([all, expired])) === 'expired') break;
      }
    } finally {
      clearTimeout(timer);
      this.#open = false;
    }
    return this.#pending.size;
  }
}

const current = new AsyncLocalStorage<Invocation>();

/**
 * Runs `run` as one invocation: the post-commit work it starts is awaited afterwards (even when
 * `run` throws), for at most `waitMs` and never past `safetyMarginMs` before Lambda's timeout.
 */
export async function withInvocation<T>(
  logger: Logger,
  context: LambdaContext,
  bounds: { waitMs: number; safetyMarginMs: number },
  run: () => T | Promise<T>,
): Promise<T> {
  const invocation = new Invocation(logger);
  try {
    return await current.run(invocation, run);
  } finally {
    const boundMs = Math.min(bounds.waitMs, context.getRemainingTimeInMillis() - bounds.safetyMarginMs);
    const unfinished = await invocation.settle(boundMs);
    if (unfinished > 0) {
      logger.warn(
        { awsRequestId: context.awsRequestId, unfinished, boundMs },
        'post-commit work still running at the bound; the invocation answers now, and the tasks it has not finished stay in the table for the next tick',
      );
    }
  }
}

export interface WaitUntilOptions {
  /** Where the no-invocation notice goes. @defaultValue gta's console logger */
  logger?: Logger;
}

/**
 * A `waitUntil` for the manager (or one call) that hands post-commit work to the current
 * invocation of {@link handle} or {@link handleCron}, which awaits it before returning.
 *
 * Outside one (a handler not wrapped, a local script) it logs a warning and leaves the work running
 * in the process: if the process is frozen or ends first, the tasks stay in the table and the next
 * `tick()` runs them.
 * @example
 * const manager = createTaskManager({ db, tasks, logger, waitUntil: createWaitUntil({ logger }) });
 */
export function createWaitUntil(options: WaitUntilOptions = {}): WaitUntil {
  const logger = options.logger ?? consoleLogger();
  return (promise) => {
    if (current.getStore()?.hold(promise)) return;
    logger.warn(
      {},
      'no Lambda invocation in progress (a handler not wrapped by handle or handleCron, or a local script): post-commit work goes on in this process without a lifetime guarantee; if the process is frozen or ends first, the next tick() runs its tasks',
    );
  };
}

/**
 * {@link createWaitUntil} with gta's console logger.
 * @example
 * import { waitUntil } from '@gta/aws-lambda';
 * export const manager = createTaskManager({ db, tasks: [sendWelcome], waitUntil });
 */
export const waitUntil: WaitUntil = createWaitUntil();
