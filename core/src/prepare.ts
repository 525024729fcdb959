/**
 * Turning an `enqueue` call into a row to insert: the definition looked up, the argument checked
 * against the task's schema and serialized, the context marshaled, the options validated.
 * @module
 */
import type { StandardSchemaV1 } from '@standard-schema/spec';
import { ERROR_CODES, GtaError } from './errors.js';
import type { ResolvedOptions } from './options.js';
import { toStoredJson, unstorableText, utf8Bytes } from './serialize.js';
import type { GroupLimits, NewTask } from './storage/index.js';
import {
  type CtxMarshaler,
  defineTask,
  isPriority,
  MAX_DELAY_MS,
  MAX_INT32,
  MIN_INT32,
  type TaskDefinition,
} from './task.js';
import type { DedupeFor, EnqueueOptions, TaskId } from './types.js';

export type TaskRef = TaskDefinition<any, any, any> | string;

const MAX_LABEL_LENGTH = 255;

export class TaskRegistry {
  readonly #definitions = new Map<string, TaskDefinition<any, any, any>>();

  register(candidate: TaskDefinition<any, any, any>): void {
    // A hand-made definition gets the same checks and defaults as one from defineTask.
    const definition = defineTask(candidate);
    const existing = this.#definitions.get(definition.key);
    if (existing && existing !== definition) {
      throw new GtaError(
        ERROR_CODES.duplicateTaskKey,
        `a different task is already registered as ${definition.key}`,
      );
    }
    this.#definitions.set(definition.key, definition);
  }

  /** The registered definition for `ref`, or `GTA_UNKNOWN_TASK_KEY`. */
  resolve(ref: TaskRef): TaskDefinition<any, any, any> {
    const key = typeof ref === 'string' ? ref : ref?.key;
    const definition = typeof key === 'string' ? this.#definitions.get(key) : undefined;
    if (!definition) {
      throw new GtaError(
        ERROR_CODES.unknownTaskKey,
        `no task registered as ${JSON.stringify(key)}; pass it in tasks: [...] or call manager.register`,
      );
    }
    return definition;
  }

  get(key: string): TaskDefinition<any, any, any> | undefined {
    return this.#definitions.get(key);
  }

  keys(): string[] {
    return [...this.#definitions.keys()];
  }

  /** The concurrency and rate limits of the registered tasks, for a claim to apply. */
  limits(): GroupLimits {
    const limits: GroupLimits = { concurrency: [], rate: [] };
    for (const { key, concurrency, rateLimit } of this.#definitions.values()) {
      if (concurrency) limits.concurrency.push({ key, limit: concurrency.limit });
      if (rateLimit) limits.rate.push({ key, limit: rateLimit.limit, periodMs: rateLimit.periodMs });
    }
    return limits;
  }
}

/** A group's key: the task's own group (no `key` function) is the empty string. */
function groupKeyOf(
  definition: TaskDefinition<any, any, any>,
  name: 'concurrency' | 'rateLimit',
  arg: unknown,
): string | null {
  const limit = definition[name];
  if (!limit) return null;
  if (!limit.key) return '';
  let key: unknown;
  try {
    key = limit.key(arg);
  } catch (error) {
    throw new GtaError(ERROR_CODES.invalidArgument, `task ${definition.key}: ${name}.key threw`, {
      cause: error,
    });
  }
  // A task of a limited definition always has a group: a key that is no string is a mistake.
  const group = label(key, `the ${name}.key of task ${definition.key}`);
  if (group === null) {
    throw new GtaError(
      ERROR_CODES.invalidArgument,
      `the ${name}.key of task ${definition.key} returned ${String(key)}; it must return a string of 1 to ${MAX_LABEL_LENGTH} characters`,
    );
  }
  return group;
}

/** Runs a Standard Schema; returns the parsed value or throws `GTA_SCHEMA_REJECTED`. */
export async function validateArgument(
  definition: TaskDefinition<any, any, any>,
  arg: unknown,
  what = 'argument',
): Promise<unknown> {
  const schema = definition.schema as StandardSchemaV1 | undefined;
  if (!schema) return arg;
  let result = schema['~standard'].validate(arg);
  if (result instanceof Promise) result = await result;
  if (result.issues) {
    const details = result.issues
      .map((issue) => {
        const path = issue.path?.map((part) => (typeof part === 'object' ? part.key : part)).join('.');
        return path ? `${path}: ${issue.message}` : issue.message;
      })
      .join('; ');
    throw new GtaError(ERROR_CODES.schemaRejected, `${what} of task ${definition.key} rejected: ${details}`);
  }
  return result.value;
}

export function marshalerFor(
  definition: TaskDefinition<any, any, any>,
  options: ResolvedOptions,
): CtxMarshaler<any> | undefined {
  return definition.ctxMarshaler ?? options.ctxMarshaler;
}

/** Restores a stored context for the handler; throws when the stored text cannot be read. */
export function restoreContext(stored: string | null, marshaler: CtxMarshaler<any> | undefined): unknown {
  if (stored === null) return undefined;
  return marshaler ? marshaler.unmarshal(stored) : JSON.parse(stored);
}

function marshalContext(context: unknown, marshaler: CtxMarshaler<any> | undefined): string | null {
  if (context === undefined) return null;
  if (!marshaler) return toStoredJson(context, 'context');
  let stored: unknown;
  try {
    stored = marshaler.marshal(context);
  } catch (error) {
    throw new GtaError(ERROR_CODES.notSerializable, 'ctxMarshaler.marshal threw', { cause: error });
  }
  if (typeof stored !== 'string') {
    throw new GtaError(ERROR_CODES.notSerializable, 'ctxMarshaler.marshal must return a string');
  }
  const refused = unstorableText(stored);
  if (refused)
    throw new GtaError(
      ERROR_CODES.notSerializable,
      `ctxMarshaler.marshal's text cannot be stored: ${refused}`,
    );
  return stored;
}

/** Throws `GTA_INVALID_ARGUMENT` unless `options` is an object (null and arrays are refused). */
export function assertOptionsObject(options: unknown): asserts options is object {
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw new GtaError(ERROR_CODES.invalidArgument, 'enqueue options must be an object');
  }
}

function label(value: unknown, name: string): string | null {
  if (value === undefined || value === null) return null;
  if (typeof value !== 'string' || value.length === 0 || value.length > MAX_LABEL_LENGTH) {
    throw new GtaError(
      ERROR_CODES.invalidArgument,
      `${name} must be a string of 1 to ${MAX_LABEL_LENGTH} characters`,
    );
  }
  const refused = unstorableText(value);
  if (refused) throw new GtaError(ERROR_CODES.invalidArgument, `${name} cannot be stored: ${refused}`);
  return value;
}

function dedupeForOf(options: Pick<EnqueueOptions, 'dedupeKey' | 'dedupeFor'>): DedupeFor {
  const { dedupeFor } = options;
  if (dedupeFor === undefined) return 'stored';
  if (options.dedupeKey === undefined || options.dedupeKey === null) {
    throw new GtaError(ERROR_CODES.invalidArgument, 'dedupeFor needs a dedupeKey');
  }
  if (dedupeFor === 'stored' || dedupeFor === 'unfinished') return dedupeFor;
  const ms = (dedupeFor as { ms?: unknown } | null)?.ms;
  if (typeof ms !== 'number' || !Number.isInteger(ms) || ms < 1 || ms > MAX_DELAY_MS) {
    throw new GtaError(
      ERROR_CODES.invalidArgument,
      `dedupeFor must be 'stored', 'unfinished' or { ms } with ms a whole number from 1 to ${MAX_DELAY_MS} (ten years), got ${describe(dedupeFor)}`,
    );
  }
  return { ms };
}

function describe(value: unknown): string {
  return typeof value === 'string' ? JSON.stringify(value) : (JSON.stringify(value) ?? String(value));
}

function runAtOf(options: Pick<EnqueueOptions, 'runAt' | 'delayMs'>): {
  runAt: string | null;
  delayMs: number;
} {
  if (options.runAt !== undefined && options.delayMs !== undefined) {
    throw new GtaError(ERROR_CODES.invalidArgument, 'give runAt or delayMs, not both');
  }
  if (options.delayMs !== undefined) {
    if (typeof options.delayMs !== 'number' || !(options.delayMs >= 0 && options.delayMs <= MAX_DELAY_MS)) {
      throw new GtaError(
        ERROR_CODES.invalidArgument,
        `delayMs must be a number from 0 to ${MAX_DELAY_MS} (ten years), got ${String(options.delayMs)}`,
      );
    }
    return { runAt: null, delayMs: options.delayMs };
  }
  if (options.runAt !== undefined) {
    const date = options.runAt instanceof Date ? options.runAt : new Date(options.runAt);
    const year = date.getUTCFullYear();
    if (Number.isNaN(date.getTime()) || year < 1970 || year > 9999) {
      throw new GtaError(
        ERROR_CODES.invalidArgument,
        `runAt must be a valid time between 1970 and 9999, got ${String(options.runAt)}`,
      );
    }
    return { runAt: date.toISOString(), delayMs: 0 };
  }
  return { runAt: null, delayMs: 0 };
}

function priorityOf(priority: unknown, definition: TaskDefinition<any, any, any>): number {
  if (priority === undefined) return definition.priority;
  if (!isPriority(priority)) {
    throw new GtaError(
      ERROR_CODES.invalidArgument,
      `priority must be a whole number from ${MIN_INT32} to ${MAX_INT32}, got ${String(priority)}`,
    );
  }
  return priority;
}

/** Builds the row for one enqueue, or throws a typed error; nothing is written. */
export async function prepareTask(
  definition: TaskDefinition<any, any, any>,
  arg: unknown,
  options: Omit<EnqueueOptions, 'tx' | 'waitUntil'>,
  resolved: ResolvedOptions,
  { parentId = null, label: what = 'argument' }: { parentId?: TaskId | null; label?: string } = {},
): Promise<NewTask> {
  assertOptionsObject(options);
  if (parentId !== null && (options as EnqueueOptions).dedupeFor !== undefined) {
    // Children are written by their parent's completion statement, which cannot release a key.
    throw new GtaError(
      ERROR_CODES.invalidArgument,
      'a nested task keeps its dedupe key while it is stored: ctx.enqueue takes no dedupeFor',
    );
  }
  const schedule = runAtOf(options);
  // Without a schema to turn a Date's string back, the handler would get a string it was not typed for.
  const argJson = toStoredJson(arg, what, { replaceable: definition.schema !== undefined });
  // The handler receives the argument after a JSON round trip, so that is what the schema must
  // accept, and what a group key is computed from.
  const stored = JSON.parse(argJson) as unknown;
  await validateArgument(definition, stored, what);
  const size = utf8Bytes(argJson);
  if (size > resolved.maxArgumentBytes) {
    throw new GtaError(
      ERROR_CODES.argumentTooLarge,
      `${what} of task ${definition.key} is ${size} bytes; the limit (maxArgumentBytes) is ${resolved.maxArgumentBytes}`,
    );
  }
  return {
    key: definition.key,
    arg: argJson,
    context: marshalContext(options.context, marshalerFor(definition, resolved)),
    maxAttempts: definition.retryTimes + 1,
    timeoutMs: Math.ceil(definition.timeoutMs ?? resolved.taskTimeout),
    initTimeoutSensitive: definition.initTimeoutSensitive,
    runAt: schedule.runAt,
    delayMs: schedule.delayMs,
    dedupeKey: label(options.dedupeKey, 'dedupeKey'),
    dedupeFor: dedupeForOf(options),
    sequenceKey: label(options.sequenceKey, 'sequenceKey'),
    priority: priorityOf(options.priority, definition),
    concurrencyKey: groupKeyOf(definition, 'concurrency', stored),
    rateKey: groupKeyOf(definition, 'rateLimit', stored),
    parentId,
  };
}
