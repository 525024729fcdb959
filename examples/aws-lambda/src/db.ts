/**
 * The database: one node-postgres pool per Lambda sandbox, created at cold start and reused by
 * every invocation the sandbox serves, and the app's own table.
 */
import { drizzle } from 'drizzle-orm/node-postgres';
import { pgTable, serial, text, timestamp } from 'drizzle-orm/pg-core';
import pg from 'pg';

// A sandbox serves one invocation at a time, but that invocation runs up to the manager's
// concurrency of tasks besides its own queries: one connection each. Behind RDS Proxy (or a
// pooler such as Neon's) these stay cheap however many sandboxes Lambda starts.
export const pool = new pg.Pool({
  connectionString: process.env.DATABASE_URL,
  max: 6,
  // Connections idle across a freeze are likely dead when the sandbox thaws.
  idleTimeoutMillis: 30_000,
});

export const db = drizzle(pool);

export const users = pgTable('users', {
  id: serial('id').primaryKey(),
  email: text('email').notNull().unique(),
  welcomedAt: timestamp('welcomed_at', { withTimezone: true }),
});
