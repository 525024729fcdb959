/**
 * The database: one node-postgres pool per Lambda sandbox, created at cold start and reused by
 * every invocation the sandbox serves, and the app's own table. Under `npm run dev` without
 * DATABASE_URL, an embedded PGlite takes the pool's place (`./local-database.ts`).
 */
import { drizzle } from 'drizzle-orm/node-postgres';
import { pgTable, serial, text, timestamp } from 'drizzle-orm/pg-core';
import pg from 'pg';
import { type Database, takeLocalDatabase } from './local-database.js';

const local = takeLocalDatabase();

// A sandbox serves one invocation at a time, but that invocation runs up to the manager's
// concurrency of tasks besides its own queries: one connection each. Behind RDS Proxy (or a
// pooler such as Neon's) these stay cheap however many sandboxes Lambda starts. The pool opens no
// connection until a query needs one, so with a local database it stays idle.
export const pool = new pg.Pool({
  connectionString: process.env.DATABASE_URL,
  max: 6,
  // Connections idle across a freeze are likely dead when the sandbox thaws.
  idleTimeoutMillis: 30_000,
});

export const db: Database = local ?? drizzle(pool);

/** Whether the function has a database to reach: DATABASE_URL, or the one `npm run dev` opened. */
export const hasDatabase = local !== undefined || Boolean(process.env.DATABASE_URL);

export const users = pgTable('users', {
  id: serial('id').primaryKey(),
  email: text('email').notNull().unique(),
  welcomedAt: timestamp('welcomed_at', { withTimezone: true }),
});
