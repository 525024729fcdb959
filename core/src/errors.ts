/**
 * The typed errors gta throws. Each carries a string `code`, so callers can recognise them with
 * {@link isGtaError} even when two copies of the library are bundled and `instanceof` fails.
 * @module
 */

/** Every code a {@link GtaError} can carry. */
export const ERROR_CODES = {
  /** `enqueue` named a task key that no definition registered with the manager has. */
  unknownTaskKey: 'GTA_UNKNOWN_TASK_KEY',
  /** Two definitions were registered under one key. */
  duplicateTaskKey: 'GTA_DUPLICATE_TASK_KEY',
  /** An argument to a gta call is malformed (a bad key, an id that is not an id, a negative delay, …). */
  invalidArgument: 'GTA_INVALID_ARGUMENT',
  /** A task's argument failed the task's schema. */
  schemaRejected: 'GTA_SCHEMA_REJECTED',
  /** A manager or task option breaks one of the option rules (durations > 0, scan ≤ storage, …). */
  invalidOption: 'GTA_INVALID_OPTION',
  /** A task's argument or context cannot be stored as JSON (BigInt, cycle, function, NaN, …). */
  notSerializable: 'GTA_NOT_SERIALIZABLE',
  /** A task's serialized argument is larger than `maxArgumentBytes`. */
  argumentTooLarge: 'GTA_ARGUMENT_TOO_LARGE',
  /** The manager was stopped or its root signal aborted. */
  managerStopped: 'GTA_MANAGER_STOPPED',
  /** The driver cannot do what was asked (an interactive transaction on neon-http). */
  unsupported: 'GTA_UNSUPPORTED',
  /** A statement against the task table failed; `cause` holds the driver's error. */
  storage: 'GTA_STORAGE_ERROR',
} as const;

export type GtaErrorCode = (typeof ERROR_CODES)[keyof typeof ERROR_CODES];

/** The one error class gta throws; tell failures apart by `code`. */
export class GtaError extends Error {
  readonly code: GtaErrorCode;
  /** Marks gta errors across bundled copies of the library. */
  readonly isGtaError = true;

  constructor(code: GtaErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'GtaError';
    this.code = code;
  }
}

/**
 * Whether `error` is a gta error, optionally with the given code. Works without `instanceof`.
 * @example
 * try { await manager.enqueue('nope', {}) } catch (e) { if (isGtaError(e, 'GTA_UNKNOWN_TASK_KEY')) … }
 */
export function isGtaError(error: unknown, code?: GtaErrorCode): error is GtaError {
  if (typeof error !== 'object' || error === null) return false;
  const candidate = error as { isGtaError?: unknown; code?: unknown };
  if (candidate.isGtaError !== true || typeof candidate.code !== 'string') return false;
  return code === undefined || candidate.code === code;
}

/** Longest text kept of a thrown value (a stack trace is cut there). */
export const MAX_ERROR_TEXT = 4000;

/**
 * Renders anything a handler may throw (an Error, a string, an object, undefined) as text for
 * `last_error`: an Error's stack when it has one (its first line is `Name: message`), else a
 * description; at most {@link MAX_ERROR_TEXT} characters. Never throws.
 */
export function describeThrown(thrown: unknown): string {
  let text: string;
  if (thrown instanceof Error) text = thrown.stack ?? `${thrown.name}: ${thrown.message}`;
  else if (typeof thrown === 'string') text = `non-Error thrown: ${thrown}`;
  else text = `non-Error thrown: ${renderValue(thrown)}`;
  return text.length > MAX_ERROR_TEXT ? `${text.slice(0, MAX_ERROR_TEXT)}…` : text;
}

/** How deep {@link errorCauses} follows a cause chain (a cycle must not loop forever). */
const MAX_CAUSES = 5;

/**
 * The messages of an error's `cause` chain, nearest first (at most five): for a `GTA_STORAGE_ERROR`
 * the driver's own error, such as a refused connection or a missing table. For log entries.
 */
export function errorCauses(error: unknown): string[] {
  const causes: string[] = [];
  try {
    let current = (error as { cause?: unknown } | null)?.cause;
    while (current !== undefined && current !== null && causes.length < MAX_CAUSES) {
      causes.push(causeText(current));
      current = (current as { cause?: unknown }).cause;
    }
  } catch {
    // A throwing `cause` getter ends the chain; what was read so far still helps.
  }
  return causes;
}

/** One cause as text: an AggregateError (a refused connection to every address) lists its errors. */
function causeText(cause: unknown): string {
  if (!(cause instanceof Error)) return firstLine(describeThrown(cause));
  const inner = cause instanceof AggregateError ? cause.errors.map((each) => causeText(each)) : [];
  return [cause.message || cause.name, ...inner].join('; ');
}

/** The first line of a described error, for log entries. */
export function firstLine(text: string): string {
  const end = text.indexOf('\n');
  return end === -1 ? text : text.slice(0, end);
}

/** JSON where possible, else String(), else the object tag: never throws, whatever `value` is. */
function renderValue(value: unknown): string {
  try {
    const json = JSON.stringify(value);
    if (json !== undefined) return json;
  } catch {
    // BigInt members, cycles or a throwing toJSON: fall through to String().
  }
  try {
    return String(value);
  } catch {
    return Object.prototype.toString.call(value);
  }
}
