/**
 * The few helpers every storage operation shares: table identifiers, the clock expression, and
 * running a statement on any drizzle Postgres driver with errors wrapped as `GTA_STORAGE_ERROR`.
 * @module
 */
import { type SQL, sql } from 'drizzle-orm';
import { ERROR_CODES, GtaError } from '../errors.js';
import type { SqlExecutor } from '../types.js';

export interface StorageContext {
  db: SqlExecutor;
  table: string;
  clock: (() => Date) | undefined;
}

/** The task table, quoted. */
export function tableOf(context: StorageContext): SQL {
  return sql`${sql.identifier(context.table)}`;
}

/** The current time: the database's `now()`, or the injected test clock's reading. */
export function nowOf(context: StorageContext): SQL {
  return context.clock ? sql`${context.clock().toISOString()}::timestamptz` : sql`now()`;
}

/**
 * The time a statement runs: `clock_timestamp()` rather than `now()`, which is the start of the
 * statement's transaction. An enqueue late in a long transaction is created, and counts its
 * delay, from the enqueue itself. The injected test clock reads as for {@link nowOf}.
 */
export function statementNowOf(context: StorageContext): SQL {
  return context.clock ? sql`${context.clock().toISOString()}::timestamptz` : sql`clock_timestamp()`;
}

/** `ms` milliseconds as an interval expression. */
export function millis(ms: number): SQL {
  return sql`(${ms}::float8 * interval '1 millisecond')`;
}

/**
 * A fresh lease token (the fencing token) for the rows one statement claims. A lease is checked
 * as the pair (task id, token) and a statement claims an id at most once, so its rows can share
 * one token; drawing it here spares the database a strong random number per row.
 */
export function freshLeaseToken(): string {
  return globalThis.crypto.randomUUID();
}

/** A JSON array parameter (lists travel as one jsonb value, the same on every driver). */
export function jsonParam(value: unknown): SQL {
  return sql`${JSON.stringify(value)}::jsonb`;
}

/**
 * `values` as a Postgres array of `type`, built once per statement, for `column = any(…)`. Unlike
 * a join with the list's rows (`in (select … from jsonb_array_elements …)`), this keeps the plan on
 * the column's index whatever the table's statistics say: on a table autovacuum has not analyzed
 * yet (a live one, filled by enqueues), a join made the claim sort every due task and the
 * completions scan every running one.
 */
export function arrayParam(values: readonly unknown[], type: 'bigint' | 'text' | 'uuid'): SQL {
  return sql`array(select value::${sql.raw(type)} from jsonb_array_elements_text(${jsonParam(values)}))`;
}

/**
 * Runs `query` on `executor` (the database or a transaction) and returns its rows: node-postgres,
 * PGlite and Neon answer `{ rows }`, postgres-js an array.
 */
export async function queryRows<Row>(executor: SqlExecutor, operation: string, query: SQL): Promise<Row[]> {
  let result: unknown;
  try {
    result = await executor.execute(query);
  } catch (error) {
    throw new GtaError(ERROR_CODES.storage, `${operation} failed: ${messageOf(error)}`, { cause: error });
  }
  const rows = Array.isArray(result) ? result : (result as { rows?: unknown } | null)?.rows;
  if (!Array.isArray(rows))
    throw new GtaError(ERROR_CODES.storage, `${operation}: the driver returned no rows array`);
  return handedOver(rows as Row[]);
}

/**
 * The rows in an array of their own, the driver's emptied. The driver's result object can stay
 * referenced from the old generation after its statement is done (by a settled promise that was
 * promoted, say), and a young-generation collection then keeps, and promotes, every row it
 * lists. Draining 100,000 quick tasks, each claim's rows were promoted that way: about 33 MB that
 * only a full collection could free.
 */
function handedOver<Row>(rows: Row[]): Row[] {
  const own = rows.slice();
  rows.length = 0;
  return own;
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
