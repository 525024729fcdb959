/**
 * How a statement's rows are taken from the driver: whatever the driver's result shape, the caller
 * gets the rows in an array of its own and the driver's array is left empty, so that a driver
 * result still referenced after its statement keeps no row alive. A driver answer without a rows
 * array is a typed storage error.
 */
import { sql } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import { ERROR_CODES, GtaError } from '../src/errors.js';
import { queryRows } from '../src/storage/sql.js';

/** An executor answering every statement with `result`, as a driver would. */
function answering(result: unknown) {
  return { execute: async () => result };
}

describe('queryRows', () => {
  it('hands over the rows of a `{ rows }` result and empties the driver’s array', async () => {
    const driverRows = [{ id: '1' }, { id: '2' }];
    const rows = await queryRows<{ id: string }>(answering({ rows: driverRows }), 'claim', sql`select 1`);
    expect(rows).toEqual([{ id: '1' }, { id: '2' }]);
    expect(rows).not.toBe(driverRows);
    expect(driverRows).toEqual([]);
  });

  it('hands over the rows of an array result (postgres-js) the same way', async () => {
    const driverRows = [{ id: '7' }];
    const rows = await queryRows<{ id: string }>(answering(driverRows), 'claim', sql`select 1`);
    expect(rows).toEqual([{ id: '7' }]);
    expect(driverRows).toEqual([]);
  });

  it('names the operation when the driver answers without rows', async () => {
    const failure = await queryRows(answering({ rowCount: 1 }), 'record start', sql`select 1`).catch(
      (e) => e,
    );
    expect(failure).toBeInstanceOf(GtaError);
    expect(failure.code).toBe(ERROR_CODES.storage);
    expect(failure.message).toBe('record start: the driver returned no rows array');
  });

  it('wraps a failed statement as a storage error carrying the driver’s error', async () => {
    const driverError = new Error('connection reset');
    const failing = { execute: async () => Promise.reject(driverError) };
    const failure = await queryRows(failing, 'claim', sql`select 1`).catch((e) => e);
    expect(failure).toBeInstanceOf(GtaError);
    expect(failure.message).toBe('claim failed: connection reset');
    expect(failure.cause).toBe(driverError);
  });
});
