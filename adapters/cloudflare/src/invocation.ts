/**
 * One Worker invocation's share of gta: the manager the factory builds for it (at most one), the
 * work it hands to `ctx.waitUntil`, the signal that stops that work before Workers cancel it, and
 * the closing of what the factory opened once the work is done.
 * @module
 */
import { consoleLogger, describeThrown, type Logger, type TaskManager, type WaitUntil } from '@gta/core';
import type { Invocation, ManagerFactory, WorkerContext } from './types.js';

export interface WaitUntilOptions {
  /** Where failures of the handed work go. @defaultValue gta's console logger */
  logger?: Logger;
}

/**
 * A `waitUntil` for a manager (or one call) that hands post-commit work to `ctx.waitUntil`, so it
 * runs after the response. For managers built outside {@link handle}, such as in a Durable Object
 * (`this.ctx`) or a queue consumer; `handle` gives its factory one of these already.
 * @example
 * const manager = createTaskManager({ db, tasks, logger, waitUntil: createWaitUntil(ctx, { logger }) });
 */
export function createWaitUntil(ctx: WorkerContext, options: WaitUntilOptions = {}): WaitUntil {
  const logger = options.logger ?? consoleLogger();
  return (promise) => {
    ctx.waitUntil(
      promise.catch((error: unknown) => {
        logger.error({ error: describeThrown(error) }, 'work handed to waitUntil failed');
      }),
    );
  };
}

/**
 * {@link createWaitUntil} with gta's console logger. It takes the context because Workers hand a
 * new one to each invocation.
 * @example
 * await manager.transaction(async (tx) => { … }, { waitUntil: waitUntil(ctx) });
 */
export function waitUntil(ctx: WorkerContext): WaitUntil {
  return createWaitUntil(ctx);
}

/**
 * The {@link Invocation} a factory receives. Everything but `waitUntil` and `signal` is private or
 * on the prototype, so spreading it into manager options copies those two alone.
 */
export class WorkerInvocation<Env, Manager extends TaskManager<any>> implements Invocation {
  readonly waitUntil: WaitUntil;
  readonly signal: AbortSignal;
  readonly #abort = new AbortController();
  readonly #pending = new Set<Promise<unknown>>();
  readonly #closers: (() => unknown)[] = [];
  readonly #ctx: WorkerContext;
  readonly #env: Env;
  readonly #createManager: ManagerFactory<Env, Manager>;
  #manager: Manager | undefined;
  #timer: ReturnType<typeof setTimeout> | undefined;

  constructor(ctx: WorkerContext, env: Env, createManager: ManagerFactory<Env, Manager>) {
    this.#ctx = ctx;
    this.#env = env;
    this.#createManager = createManager;
    this.signal = this.#abort.signal;
    this.waitUntil = (promise) => this.#hold(promise);
  }

  /** The invocation's manager, built on first use. */
  manager(): Manager {
    this.#manager ??= this.#createManager(this.#env, this);
    return this.#manager;
  }

  /** Whether the factory has run, so there may be work to wait for and a client to close. */
  get started(): boolean {
    return this.#manager !== undefined;
  }

  get logger(): Logger {
    return this.#manager?.options.logger ?? consoleLogger();
  }

  onDone(close: () => unknown): void {
    this.#closers.push(close);
  }

  /** Aborts `signal` in `ms`: the response has gone, and Workers cancel what is left a fixed time later. */
  abortIn(ms: number): void {
    this.#timer = setTimeout(() => this.#abort.abort(), ms);
  }

  /**
   * Settles once the work handed to `waitUntil` has settled, including work handed while waiting,
   * then runs the `onDone` callbacks. Never rejects.
   */
  async settle(): Promise<void> {
    while (this.#pending.size > 0) await Promise.allSettled([...this.#pending]);
    clearTimeout(this.#timer);
    for (const close of this.#closers.splice(0)) {
      try {
        await close();
      } catch (error) {
        this.logger.error({ error: describeThrown(error) }, 'closing at the end of the invocation failed');
      }
    }
  }

  #hold(promise: Promise<unknown>): void {
    this.#pending.add(promise);
    const done = () => this.#pending.delete(promise);
    this.#ctx.waitUntil(
      promise.then(done, (error: unknown) => {
        done();
        this.logger.error({ error: describeThrown(error) }, 'work handed to waitUntil failed');
      }),
    );
  }
}
