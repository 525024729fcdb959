/**
 * Opening the database transaction of `manager.transaction` on the user's drizzle database, and
 * owning its pooled connection on node-postgres-compatible pools, where drizzle-orm 0.45 can keep
 * a connection forever (a failed `BEGIN` is never released) or return a broken one to the pool.
 * See docs/upstream/drizzle-node-postgres-transaction.md.
 * @module
 */
import type { TransactionalDatabase } from './types.js';

/** A client checked out of a node-postgres-compatible pool. */
interface PooledClient {
  /** Returns the client to its pool; with an error, the pool closes and forgets it instead. */
  release(error?: Error): void;
  on(event: 'error', listener: (error: Error) => void): unknown;
  removeListener(event: 'error', listener: (error: Error) => void): unknown;
}

/** What a drizzle node-postgres or neon-serverless session holds: its client and what it was built with. */
interface DrizzleSession {
  client: unknown;
  dialect: unknown;
  schema: unknown;
  options: unknown;
  transaction<R>(body: (tx: any) => Promise<R>): Promise<R>;
}

type SessionClass = new (
  client: PooledClient,
  dialect: unknown,
  schema: unknown,
  options: unknown,
) => DrizzleSession;

/** A node-postgres-compatible pool, through the callback form of `connect` that both pools have. */
interface ConnectionPool {
  connect(callback: (error: Error | undefined, client: PooledClient | undefined) => void): void;
}

/**
 * The pool and session of a drizzle database on a node-postgres-compatible pool (node-postgres's
 * `pg.Pool`, `@neondatabase/serverless`'s `Pool`), recognised by shape so the core imports neither
 * driver; undefined for any other client (postgres-js, PGlite, neon-http, a single `pg.Client`).
 */
function pooledSession(db: any): { pool: ConnectionPool; session: DrizzleSession } | undefined {
  const pool = db?.$client;
  const session = db?._?.session;
  const isPool =
    typeof pool?.connect === 'function' &&
    typeof pool.totalCount === 'number' &&
    typeof pool.idleCount === 'number';
  // The session must hold the pool itself, or it is not one this module knows how to rebuild.
  if (!isPool || session?.client !== pool || typeof session.constructor !== 'function') return undefined;
  return { pool, session };
}

/**
 * Checks a client out with `onError` already listening. It is attached in the pool's own callback
 * because the pool can hand a client over from inside a socket read (a new connection's startup
 * completing, or another client's release), and the rest of that read, such as the backend's
 * termination notice, is parsed before any awaiting code resumes: with no listener at that moment,
 * the client's 'error' event would end the process.
 */
function checkOut(pool: ConnectionPool, onError: (error: Error) => void): Promise<PooledClient> {
  return new Promise((resolve, reject) => {
    pool.connect((error, client) => {
      if (error || !client) return reject(error);
      client.on('error', onError);
      resolve(client);
    });
  });
}

/**
 * Runs `body` in a transaction of `db`, with drizzle's own transaction object (query builder,
 * savepoints through `tx.transaction(...)`, the database's logger and schema).
 *
 * On a node-postgres-compatible pool, the connection is checked out here, and it always goes back:
 * healthy after a commit or a clean rollback, and destroyed (released with the error, so the pool
 * closes it and opens a fresh one when needed) whenever it may be broken, that is when BEGIN, COMMIT
 * or ROLLBACK failed, or the client reported a connection error during the transaction. A database
 * restart therefore costs the calls it interrupts, never a connection of the pool. While the
 * transaction runs, a connection error the client emits is taken here rather than ending the
 * process as an unhandled `'error'` event.
 *
 * The caller gets the body's own error unchanged, also when the rollback after it failed: the
 * connection is then destroyed, so the server rolls the transaction back as it drops the session,
 * and the rollback's failure is the reason the client is released with, which the pool reports
 * as its `'release'` event `(error, client)`. Without a body error, a failed BEGIN or COMMIT is what
 * the caller gets; a failed COMMIT leaves the outcome unknown, as with any driver.
 *
 * Any other driver runs `db.transaction(body)` unchanged.
 */
export async function runTransaction<R>(
  db: TransactionalDatabase,
  body: (tx: any) => Promise<R>,
): Promise<R> {
  const pooled = pooledSession(db);
  if (!pooled) return db.transaction(body);

  /** Why the connection can no longer be trusted, once it cannot. */
  let fault: unknown;
  // Checked out, the client has no pool listener: an unheard 'error' would end the process.
  const onError = (error: Error) => {
    fault ??= error;
  };
  const client = await checkOut(pooled.pool, onError);
  let bodyFailure: { error: unknown } | undefined;
  try {
    // A session of the database's own driver class, bound to this one client: drizzle then sends
    // BEGIN, COMMIT or ROLLBACK on it, and leaves checking it out and releasing it to us.
    const { session } = pooled;
    const Session = session.constructor as SessionClass;
    const bound = new Session(client, session.dialect, session.schema, session.options);
    return await bound.transaction(async (tx) => {
      try {
        return await body(tx);
      } catch (error) {
        bodyFailure = { error };
        throw error;
      }
    });
  } catch (error) {
    // drizzle rethrows the body's error after a successful ROLLBACK; anything else is BEGIN, COMMIT
    // or ROLLBACK failing, which leaves the connection in a state nobody knows.
    if (bodyFailure && error === bodyFailure.error) throw error;
    fault = error;
    throw bodyFailure ? bodyFailure.error : error;
  } finally {
    client.release(
      fault === undefined ? undefined : fault instanceof Error ? fault : new Error(String(fault)),
    );
    client.removeListener('error', onError);
  }
}
