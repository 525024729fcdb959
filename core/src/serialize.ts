/**
 * Turns task arguments into the JSON text stored in the task table, refusing what JSON would
 * silently change (functions, symbols, NaN, class instances), what it cannot hold at all (BigInt,
 * cycles), and text Postgres refuses in `text` and `jsonb` (the NUL character, an unpaired UTF-16
 * surrogate). Members set to `undefined` are dropped, as JSON drops them. A value with `toJSON`
 * (a `Date`, say) reaches the handler as what `toJSON` returned; a task argument may hold one only
 * when the task's schema turns that form back (see `toStoredJson`'s `replaceable`).
 * @module
 */
import { ERROR_CODES, GtaError } from './errors.js';

/**
 * Serializes `value` to JSON, or throws `GTA_NOT_SERIALIZABLE` naming the path of the first bad
 * part. Without `replaceable`, a value with `toJSON` is refused: its reader would get a string (or
 * whatever `toJSON` returned) where the writer passed an object.
 */
export function toStoredJson(value: unknown, what: string, { replaceable = true } = {}): string {
  assertJsonSafe(value, what, new Set(), replaceable);
  return JSON.stringify(value);
}

/**
 * What an enqueue may pass for a handler argument of type `T` when no schema turns it back: the
 * parts JSON carries back as they were. A `Date`, `Map`, `Set`, `RegExp`, `BigInt`, symbol or
 * function (and so an object with methods) becomes `never`, so passing one is a type error, as
 * it is a `GTA_NOT_SERIALIZABLE` error at run time.
 */
export type JsonArgument<T> = T extends NotCarriedByJson
  ? never
  : T extends object
    ? { [K in keyof T]: JsonArgument<T[K]> }
    : T;

type NotCarriedByJson =
  | Date
  | ReadonlyMap<unknown, unknown>
  | ReadonlySet<unknown>
  | RegExp
  | bigint
  | symbol
  | ((...args: never[]) => unknown);

/**
 * Why Postgres would refuse `text` in a `text` or `jsonb` column, or null: the NUL character, or a
 * UTF-16 surrogate without its pair (JavaScript strings may hold one; UTF-8 cannot).
 */
export function unstorableText(text: string): string | null {
  if (text.includes('\u0000')) return 'Postgres cannot store the NUL character (\\u0000) in text or jsonb';
  if (LONE_SURROGATE.test(text)) return 'it holds an unpaired UTF-16 surrogate, which has no UTF-8 form';
  return null;
}

const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

function assertJsonSafe(
  value: unknown,
  path: string,
  ancestors: Set<object>,
  replaceable: boolean,
  viaToJson = false,
): void {
  switch (typeof value) {
    case 'string': {
      const refused = unstorableText(value);
      if (refused) throw notSerializable(path, refused);
      return;
    }
    case 'boolean':
      return;
    case 'number':
      if (!Number.isFinite(value)) throw notSerializable(path, `${value} is not a finite number`);
      return;
    case 'bigint':
      throw notSerializable(path, 'BigInt has no JSON form; pass it as a string');
    case 'function':
      throw notSerializable(path, 'functions cannot be stored');
    case 'symbol':
      throw notSerializable(path, 'symbols cannot be stored');
    case 'undefined':
      throw notSerializable(path, 'undefined cannot be stored; use null or omit the property');
  }
  if (value === null) return;
  const object = value as object;
  // Like JSON.stringify, call toJSON once and take its result as it is.
  if (!viaToJson && typeof (object as { toJSON?: unknown }).toJSON === 'function') {
    if (!replaceable) throw notSerializable(path, replacedReason(object));
    let replaced: unknown;
    try {
      replaced = (object as { toJSON(): unknown }).toJSON();
    } catch (error) {
      throw notSerializable(path, `its toJSON threw: ${String(error)}`);
    }
    assertJsonSafe(replaced, path, ancestors, replaceable, true);
    return;
  }
  if (ancestors.has(object)) throw notSerializable(path, 'the value contains a cycle');
  ancestors.add(object);
  if (Array.isArray(object)) {
    object.forEach((item, index) => {
      assertJsonSafe(item, `${path}[${index}]`, ancestors, replaceable);
    });
  } else {
    const prototype = Object.getPrototypeOf(object);
    if (prototype !== Object.prototype && prototype !== null) {
      const name = (object as { constructor?: { name?: string } }).constructor?.name ?? 'unknown';
      throw notSerializable(path, `instances of ${name} do not survive JSON; pass a plain object`);
    }
    for (const [key, member] of Object.entries(object)) {
      if (member === undefined) continue;
      const refused = unstorableText(key);
      if (refused) throw notSerializable(`${path}.${JSON.stringify(key)}`, `its key: ${refused}`);
      assertJsonSafe(member, `${path}.${key}`, ancestors, replaceable);
    }
  }
  ancestors.delete(object);
}

function replacedReason(object: object): string {
  if (object instanceof Date) {
    return 'a Date reaches the handler as an ISO string; pass date.toISOString() and type it as a string, or give the task a schema that turns the string back into a Date';
  }
  const name = (object as { constructor?: { name?: string } }).constructor?.name ?? 'object';
  return `a ${name} with toJSON reaches the handler as what toJSON returns; pass that yourself, or give the task a schema that turns it back`;
}

function notSerializable(path: string, reason: string): GtaError {
  return new GtaError(ERROR_CODES.notSerializable, `${path} cannot be serialized: ${reason}`);
}

/** The UTF-8 size of `text` in bytes, without Node's Buffer. */
export function utf8Bytes(text: string): number {
  return new TextEncoder().encode(text).byteLength;
}
