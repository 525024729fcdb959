/**
 * Opening the database transaction of `manager.transaction` on the user's drizzle database.
 * @module
 */
import type { TransactionalDatabase } from './types.js';

/** Runs `body` in a transaction of `db`, as `db.transaction(body)` does. */
export function runTransaction<R>(db: TransactionalDatabase, body: (tx: any) => Promise<R>): Promise<R> {
  return db.transaction(body);
}
