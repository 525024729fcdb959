/**
 * Turning an `enqueue` call into a row to insert: the definition looked up, the argument checked
 * against the task's schema and serialized, the context marshaled, the options validated.
 * @module
 */
import type { StandardSchemaV1 } from '@standard-schema/spec';
import { ERROR_CODES, GtaError } from './errors.js';
import type { ResolvedOptions } from './options.js';
import { toStoredJson, utf8Bytes } from './serialize.js';
import type { NewTask } from './storage/index.js';
import type { CtxMarshaler, TaskDefinition } from './task.js';
import type { EnqueueOptions, TaskId } from './types.js';

export type TaskRef = TaskDefinition<any, any, any> | string;

const MAX_LABEL_LENGTH = 255;

export class TaskRegistry {
  readonly #definitions = new Map<string, TaskDefinition<any, any, any>>();

  register(definition: TaskDefinition<any, any, any>): void {
    if (typeof definition?.key !== 'string' || typeof definition.handler !== 'function') {
      throw new GtaError(ERROR_CODES.invalidArgument, 'register expects a definition made by defineTask');
    }
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
}

/** Runs a Standard Schema; returns the parsed value or throws `GTA_SCHEMA_REJECTED`. */
export async function validateArgument(
  definition: TaskDefinition<any, any, any>,
  arg: unknown,
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
    throw new GtaError(ERROR_CODES.schemaRejected, `argument of task ${definition.key} rejected: ${details}`);
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
  return stored;
}

function label(value: unknown, name: string): string | null {
  if (value === undefined || value === null) return null;
  if (typeof value !== 'string' || value.length === 0 || value.length > MAX_LABEL_LENGTH) {
    throw new GtaError(
      ERROR_CODES.invalidArgument,
      `${name} must be a string of 1 to ${MAX_LABEL_LENGTH} characters`,
    );
  }
  return value;
}

function runAtOf(options: Pick<EnqueueOptions, 'runAt' | 'delayMs'>): {
  runAt: string | null;
  delayMs: number;
} {
  if (options.runAt !== undefined && options.delayMs !== undefined) {
    throw new GtaError(ERROR_CODES.invalidArgument, 'give runAt or delayMs, not both');
  }
  if (options.delayMs !== undefined) {
    if (typeof options.delayMs !== 'number' || !Number.isFinite(options.delayMs) || options.delayMs < 0) {
      throw new GtaError(
        ERROR_CODES.invalidArgument,
        `delayMs must be a finite number ≥ 0, got ${options.delayMs}`,
      );
    }
    return { runAt: null, delayMs: options.delayMs };
  }
  if (options.runAt !== undefined) {
    const date = options.runAt instanceof Date ? options.runAt : new Date(options.runAt);
    if (Number.isNaN(date.getTime())) {
      throw new GtaError(ERROR_CODES.invalidArgument, `runAt is not a valid time: ${String(options.runAt)}`);
    }
    return { runAt: date.toISOString(), delayMs: 0 };
  }
  return { runAt: null, delayMs: 0 };
}

/** Builds the row for one enqueue, or throws a typed error; nothing is written. */
export async function prepareTask(
  definition: TaskDefinition<any, any, any>,
  arg: unknown,
  options: Omit<EnqueueOptions, 'tx' | 'waitUntil'>,
  resolved: ResolvedOptions,
  parentId: TaskId | null = null,
): Promise<NewTask> {
  if (typeof options !== 'object' || options === null) {
    throw new GtaError(ERROR_CODES.invalidArgument, 'enqueue options must be an object');
  }
  const schedule = runAtOf(options);
  await validateArgument(definition, arg);
  const argJson = toStoredJson(arg, 'argument');
  const size = utf8Bytes(argJson);
  if (size > resolved.maxArgumentBytes) {
    throw new GtaError(
      ERROR_CODES.argumentTooLarge,
      `argument of task ${definition.key} is ${size} bytes; the limit (maxArgumentBytes) is ${resolved.maxArgumentBytes}`,
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
    sequenceKey: label(options.sequenceKey, 'sequenceKey'),
    parentId,
  };
}
