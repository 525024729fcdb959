/**
 * Test databases: an in-memory PGlite, or a fresh database on the real Postgres for each test
 * file (dropped afterwards). Postgres is at DATABASE_URL (default the local `test` server); with
 * GTA_REQUIRE_POSTGRES=1 an unreachable server fails the suite instead of skipping it.
 */
import { PGlite } from '@electric-sql/pglite';
import { drizzle as drizzleNodePostgres } from 'drizzle-orm/node-postgres';
import { drizzle as drizzlePglite } from 'drizzle-orm/pglite';
import pg from 'pg';

export interface TestDatabase {
  name: 'pglite' | 'postgres' | 'memory';
  db: any;
  /** The connection string, for the real Postgres (child processes, raw clients). */
  url?: string;
  /** Runs plain SQL (several statements allowed) outside any manager, for setup and assertions. */
  exec(sqlText: string): Promise<void>;
  query<Row = Record<string, unknown>>(sqlText: string, params?: unknown[]): Promise<Row[]>;
  close(): Promise<void>;
}

export const POSTGRES_URL = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
export const POSTGRES_REQUIRED = process.env.GTA_REQUIRE_POSTGRES === '1';

export async function createPgliteDatabase(): Promise<TestDatabase> {
  const client = new PGlite();
  await client.waitReady;
  return {
    name: 'pglite',
    db: drizzlePglite(client),
    exec: async (text) => {
      await client.exec(text);
    },
    query: async <Row>(text: string, params: unknown[] = []) => (await client.query<Row>(text, params)).rows,
    close: () => client.close(),
  };
}

/** Whether the Postgres server answers; throws when it does not and GTA_REQUIRE_POSTGRES=1. */
export async function postgresAvailable(): Promise<boolean> {
  const client = new pg.Client({ connectionString: POSTGRES_URL, connectionTimeoutMillis: 3000 });
  try {
    await client.connect();
    await client.end();
    return true;
  } catch (error) {
    if (POSTGRES_REQUIRED) {
      throw new Error(
        `GTA_REQUIRE_POSTGRES=1 but Postgres at ${POSTGRES_URL} is unreachable: ${String(error)}`,
      );
    }
    console.warn(`Postgres at ${POSTGRES_URL} is unreachable; its suites are skipped`);
    return false;
  }
}

function urlFor(database: string): string {
  const url = new URL(POSTGRES_URL);
  url.pathname = `/${database}`;
  return url.toString();
}

/** A drizzle database reached through some driver, and how to close its connections. */
export interface DriverConnection {
  db: any;
  close(): Promise<void>;
}

/**
 * A new, empty database on the real Postgres. The suite's own reads and writes (`exec`, `query`)
 * go through a node-postgres pool of `poolSize`; `db` is drizzle on that pool too, unless
 * `connect` opens it through another driver.
 */
export async function createPostgresDatabase(
  options: { poolSize?: number; connect?: (url: string) => Promise<DriverConnection> } = {},
): Promise<TestDatabase> {
  const name = `gta_test_${process.pid}_${Math.random().toString(36).slice(2, 10)}`;
  const admin = new pg.Client({ connectionString: POSTGRES_URL });
  await admin.connect();
  await admin.query(`create database "${name}"`);
  await admin.end();
  const pool = new pg.Pool({ connectionString: urlFor(name), max: options.poolSize ?? 10 });
  const drop = async () => {
    await endPool(pool);
    const dropper = new pg.Client({ connectionString: POSTGRES_URL });
    await dropper.connect();
    await dropper.query(`drop database if exists "${name}" with (force)`);
    await dropper.end();
  };
  let driver: DriverConnection | null = null;
  try {
    driver = options.connect ? await options.connect(urlFor(name)) : null;
  } catch (error) {
    // Nobody gets a handle to close this database, so drop it here.
    await drop();
    throw error;
  }
  return {
    name: 'postgres',
    db: driver ? driver.db : drizzleNodePostgres(pool),
    url: urlFor(name),
    exec: async (text) => {
      await pool.query(text);
    },
    query: async <Row>(text: string, params: unknown[] = []) =>
      (await pool.query(text, params)).rows as Row[],
    close: async () => {
      await driver?.close();
      await drop();
    },
  };
}

/**
 * Ends a pool and waits until each client has really disconnected: `pool.end()` resolves before
 * the sockets close, and dropping the database then would kill them mid-goodbye.
 */
export async function endPool(pool: pg.Pool): Promise<void> {
  // A client killed while it says goodbye reports through the pool; nothing is left to fail then.
  pool.on('error', () => {});
  let open = pool.totalCount;
  const disconnected = new Promise<void>((resolve) => {
    if (open === 0) resolve();
    pool.on('remove', () => {
      if (--open === 0) resolve();
    });
  });
  await pool.end();
  await disconnected;
}
