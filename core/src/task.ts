/**
 * Task definitions (GTA's TaskDefinition) and the control signals a handler may throw.
 * @module
 */
import type { StandardSchemaV1 } from '@standard-schema/spec';
import { ERROR_CODES, GtaError, type GtaErrorCode } from './errors.js';
import type { Logger } from './logger.js';
import type { JsonArgument } from './serialize.js';
import type { EnqueueOptions, TaskRow } from './types.js';

/** Stores the caller's context (trace ids, tenant, …) with a task and restores it for the handler. */
export interface CtxMarshaler<Context = unknown> {
  marshal(context: Context): string;
  unmarshal(stored: string): Context;
}

/** What a handler receives besides its argument. */
export interface TaskContext<Context = unknown> {
  /** The task row as claimed (status `running`). */
  readonly task: TaskRow;
  /** 1 for the first run, 2 for the first retry, … */
  readonly attempt: number;
  /**
   * For a task a schedule fired, the slot it fired for (an operator's trigger: when it was asked
   * for); null for any other task.
   */
  readonly scheduledFor: Date | null;
  /** Aborts at the task's timeout, when the invocation's deadline nears, or when the manager stops. */
  readonly signal: AbortSignal;
  /** The context given at enqueue time, restored through the task's `ctxMarshaler`. */
  readonly context: Context | undefined;
  readonly logger: Logger;
  /**
   * Enqueues a nested task. It is committed atomically with this task's success (a retried parent
   * never duplicates its children) and starts after this task finished, in submission order.
   */
  enqueue<Input>(
    task: TaskDefinition<any, any, Input> | string,
    arg: Input,
    options?: ChildEnqueueOptions,
  ): void;
}

/** The enqueue options a nested task may use (it always commits with its parent). */
export type ChildEnqueueOptions = Pick<
  EnqueueOptions,
  'runAt' | 'delayMs' | 'dedupeKey' | 'sequenceKey' | 'context' | 'priority'
>;

export type TaskHandler<Arg, Context> = (arg: Arg, ctx: TaskContext<Context>) => Promise<unknown> | unknown;

/** The fields of a task definition (SPEC §5). */
export interface TaskDefinitionInput<Arg, Context = unknown, Input = Arg> {
  /** Unique name, at most 64 characters; the `gta:` prefix is reserved for built-in tasks. */
  key: string;
  handler: TaskHandler<Arg, Context>;
  /** A Standard Schema (zod, valibot, arktype, …) checked at enqueue time and again before the handler. */
  schema?: StandardSchemaV1<Input, Arg>;
  /** Overrides the manager's `ctxMarshaler` for this task. */
  ctxMarshaler?: CtxMarshaler<Context>;
  /**
   * Retries after the first failure; then the task is `failed`.
   * @defaultValue 0
   */
  retryTimes?: number;
  /**
   * Milliseconds to wait before retry number `attempt` (1 for the first retry).
   * @defaultValue `() => 1000`
   * @example retryInterval: (n) => Math.min(60_000, 1000 * 2 ** n) * (0.5 + Math.random())
   */
  retryInterval?: (attempt: number) => number;
  /**
   * Per-attempt deadline in milliseconds: the handler's signal aborts and the attempt fails.
   * @defaultValue the manager's `taskTimeout`
   */
  timeoutMs?: number;
  /** Delete the row on success instead of keeping it until `storageTimeout`. @defaultValue false */
  cleanSucceeded?: boolean;
  /**
   * A task left `initialized` past `initializedTimeout` is not run by the scanner, only reported.
   * @defaultValue false
   */
  initTimeoutSensitive?: boolean;
  /**
   * Among due tasks, higher runs first; an enqueue may give its own. A whole number in the 32-bit
   * range. @defaultValue 0
   */
  priority?: number;
  /**
   * At most `limit` tasks of a group `running` at once, across every instance and invocation. The
   * group is the task's, or with `key` the task's and the key's (per tenant, per account, …).
   * @example concurrency: { limit: 5, key: (arg) => arg.tenantId }
   */
  concurrency?: ConcurrencyLimit<Input>;
  /**
   * At most `limit` starts of a group's tasks in any `periodMs` window (sliding), across every
   * instance; tasks over it wait `initialized` with a later `run_at`. Grouped as `concurrency`.
   * @example rateLimit: { limit: 100, periodMs: 60_000 }
   */
  rateLimit?: RateLimit<Input>;
}

/** The group of a limited task's argument: a string of 1 to 255 characters. */
export type GroupKey<Input> = (arg: Input) => string;

export interface ConcurrencyLimit<Input = unknown> {
  /** A whole number from 1 to {@link MAX_GROUP_LIMIT}. */
  limit: number;
  /** The group of a task's argument; without it the task's tasks form one group. */
  key?: GroupKey<Input>;
}

export interface RateLimit<Input = unknown> {
  /** Starts allowed per window: a whole number from 1 to {@link MAX_GROUP_LIMIT}. */
  limit: number;
  /** The window in milliseconds: a whole number from 1 to {@link MAX_RATE_PERIOD_MS}. */
  periodMs: number;
  key?: GroupKey<Input>;
}

/**
 * The most a limit may allow: a claim looks for free slots one by one, and each start of a
 * rate-limited task writes one slot row.
 */
export const MAX_GROUP_LIMIT = 10_000;
/** The longest rate window accepted: a week. */
export const MAX_RATE_PERIOD_MS = 7 * 24 * 3600_000;

/**
 * A validated task definition, as returned by {@link defineTask}. `Input` is what `enqueue` takes
 * (the schema's input, or without a schema what JSON carries back as `Arg`); `Key` is the key's
 * literal type, which types an enqueue by key.
 */
export interface TaskDefinition<Arg = unknown, Context = unknown, Input = Arg, Key extends string = string>
  extends Readonly<TaskDefinitionInput<Arg, Context, Input>> {
  readonly key: Key;
  readonly retryTimes: number;
  readonly retryInterval: (attempt: number) => number;
  readonly cleanSucceeded: boolean;
  readonly initTimeoutSensitive: boolean;
  readonly priority: number;
}

export const MAX_TASK_KEY_LENGTH = 64;
/** The table stores timeouts, attempt counts and priorities as 32-bit integers. */
export const MAX_INT32 = 2_147_483_647;
export const MIN_INT32 = -2_147_483_648;

/** Whether `value` can be stored as a priority. */
export function isPriority(value: unknown): value is number {
  return Number.isInteger(value) && (value as number) >= MIN_INT32 && (value as number) <= MAX_INT32;
}
/** The longest retry or enqueue delay accepted: ten years. */
export const MAX_DELAY_MS = 10 * 365 * 24 * 3600_000;

/**
 * A retry delay made safe to store: NaN, Infinity and negatives become 0 (retry now), a finite
 * delay beyond {@link MAX_DELAY_MS} becomes that, so a retry is never lost to bad arithmetic.
 */
export function safeDelay(ms: unknown): number {
  if (typeof ms !== 'number' || !Number.isFinite(ms) || ms < 0) return 0;
  return Math.min(ms, MAX_DELAY_MS);
}
export const BUILTIN_KEY_PREFIX = 'gta:';
export const DEFAULT_RETRY_INTERVAL_MS = 1000;

/**
 * Declares a task. The definition is inert until registered with a manager (`tasks: [...]` or
 * `manager.register`).
 * @example
 * const sendWelcome = defineTask({
 *   key: 'send-welcome',
 *   retryTimes: 3,
 *   handler: async ({ userId }: { userId: string }, ctx) => mailer.send(userId, { signal: ctx.signal }),
 * });
 */
export function defineTask<Arg, Context = unknown, Input = JsonArgument<Arg>, Key extends string = string>(
  input: TaskDefinitionInput<Arg, Context, Input> & { key: Key },
): TaskDefinition<Arg, Context, Input, Key> {
  if (typeof input !== 'object' || input === null) {
    throw new GtaError(ERROR_CODES.invalidOption, 'defineTask expects an object with a key and a handler');
  }
  if (definedTasks.has(input)) return input as TaskDefinition<Arg, Context, Input, Key>;
  assertTaskKey(input.key, { builtin: false, code: ERROR_CODES.invalidOption });
  if (typeof input.handler !== 'function') throw invalidTask(input.key, 'handler must be a function');
  const retryTimes = input.retryTimes ?? 0;
  if (!Number.isInteger(retryTimes) || retryTimes < 0 || retryTimes >= MAX_INT32) {
    throw invalidTask(
      input.key,
      `retryTimes must be a whole number from 0 to ${MAX_INT32 - 1}, got ${String(input.retryTimes)}`,
    );
  }
  if (
    input.timeoutMs !== undefined &&
    !(typeof input.timeoutMs === 'number' && input.timeoutMs > 0 && input.timeoutMs <= MAX_INT32)
  ) {
    throw invalidTask(
      input.key,
      `timeoutMs must be a number from 1 to ${MAX_INT32}, got ${String(input.timeoutMs)}`,
    );
  }
  if (input.retryInterval !== undefined && typeof input.retryInterval !== 'function') {
    throw invalidTask(input.key, 'retryInterval must be a function of the retry number');
  }
  const priority = input.priority ?? 0;
  if (!isPriority(priority)) {
    throw invalidTask(
      input.key,
      `priority must be a whole number from ${MIN_INT32} to ${MAX_INT32}, got ${String(input.priority)}`,
    );
  }
  if (input.concurrency !== undefined) checkLimit(input.key, 'concurrency', input.concurrency);
  if (input.rateLimit !== undefined) {
    checkLimit(input.key, 'rateLimit', input.rateLimit);
    const { periodMs } = input.rateLimit;
    if (!Number.isInteger(periodMs) || periodMs < 1 || periodMs > MAX_RATE_PERIOD_MS) {
      throw invalidTask(
        input.key,
        `rateLimit.periodMs must be a whole number from 1 to ${MAX_RATE_PERIOD_MS} (a week), got ${String(periodMs)}`,
      );
    }
  }
  const definition = Object.freeze({
    ...input,
    retryTimes,
    retryInterval: input.retryInterval ?? (() => DEFAULT_RETRY_INTERVAL_MS),
    cleanSucceeded: input.cleanSucceeded ?? false,
    initTimeoutSensitive: input.initTimeoutSensitive ?? false,
    priority,
  });
  definedTasks.add(definition);
  return definition;
}

function checkLimit(key: string, name: 'concurrency' | 'rateLimit', value: unknown): void {
  if (typeof value !== 'object' || value === null) {
    throw invalidTask(key, `${name} must be an object with a limit, got ${String(value)}`);
  }
  const { limit, key: groupKey } = value as { limit?: unknown; key?: unknown };
  if (!Number.isInteger(limit) || (limit as number) < 1 || (limit as number) > MAX_GROUP_LIMIT) {
    throw invalidTask(
      key,
      `${name}.limit must be a whole number from 1 to ${MAX_GROUP_LIMIT}, got ${String(limit)}`,
    );
  }
  if (groupKey !== undefined && typeof groupKey !== 'function') {
    throw invalidTask(key, `${name}.key must be a function of the argument`);
  }
}

/** Definitions made by {@link defineTask}; anything else is validated again on registration. */
const definedTasks = new WeakSet<object>();

/** Throws `GTA_INVALID_ARGUMENT` unless `key` is a usable task key. */
export function assertTaskKey(
  key: unknown,
  { builtin, code = ERROR_CODES.invalidArgument }: { builtin: boolean; code?: GtaErrorCode },
): asserts key is string {
  if (typeof key !== 'string' || key.length === 0 || key.length > MAX_TASK_KEY_LENGTH) {
    throw new GtaError(
      code,
      `a task key must be a string of 1 to ${MAX_TASK_KEY_LENGTH} characters, got ${JSON.stringify(key)}`,
    );
  }
  if (!builtin && key.startsWith(BUILTIN_KEY_PREFIX)) {
    throw new GtaError(code, `task key ${key}: the prefix "gta:" is reserved`);
  }
}

function invalidTask(key: string, reason: string): GtaError {
  return new GtaError(ERROR_CODES.invalidOption, `task ${key}: ${reason}`);
}

/** The delay before retry number `retry` from the task's `retryInterval`, made safe to store. */
export function retryDelay(definition: TaskDefinition<any, any, any>, retry: number): number {
  try {
    return safeDelay(definition.retryInterval(retry));
  } catch {
    return 0;
  }
}

/**
 * Thrown by a handler to cancel its task: it ends `cancelled` (not `failed`, and never retried),
 * with `reason` as its last error. For work that has become pointless, such as a mail to an
 * account that was deleted meanwhile.
 */
export class CancelTask extends Error {
  readonly gtaSignal = 'cancel';
  constructor(reason = 'cancelled by its handler') {
    super(reason);
    this.name = 'CancelTask';
  }
}

/**
 * Thrown by a handler to fail its task at once, whatever retries it has left: for a reason retrying
 * cannot fix (bad input, a permanent refusal). The task ends `failed` with this error.
 */
export class FailTask extends Error {
  readonly gtaSignal = 'fail';
  constructor(reason = 'failed by its handler, not to be retried') {
    super(reason);
    this.name = 'FailTask';
  }
}

/**
 * Thrown by a handler to run its task again after `delayMs`. The attempt counts against
 * `retryTimes`; once they are spent the task fails with this error's message.
 */
export class RetryAfter extends Error {
  readonly gtaSignal = 'retry-after';
  constructor(
    readonly delayMs: number,
    reason = `retry requested in ${delayMs} ms`,
  ) {
    super(reason);
    this.name = 'RetryAfter';
  }
}

/** The control signal carried by a thrown value, recognised without `instanceof`. */
export function controlSignalOf(
  thrown: unknown,
): { kind: 'cancel'; reason: string } | { kind: 'fail' } | { kind: 'retry-after'; delayMs: number } | null {
  if (typeof thrown !== 'object' || thrown === null) return null;
  const candidate = thrown as { gtaSignal?: unknown; delayMs?: unknown; message?: unknown };
  if (candidate.gtaSignal === 'cancel')
    return { kind: 'cancel', reason: String(candidate.message ?? 'cancelled') };
  if (candidate.gtaSignal === 'fail') return { kind: 'fail' };
  if (candidate.gtaSignal === 'retry-after')
    return { kind: 'retry-after', delayMs: safeDelay(candidate.delayMs) };
  return null;
}
