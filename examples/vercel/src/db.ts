/**
 * The database: one node-postgres pool per function instance, handed to Vercel so idle
 * connections are closed before the instance is suspended, and the app's own table. Under
 * `npm run dev` without DATABASE_URL, an embedded PGlite takes the pool's place
 * (`./local-database.ts`).
 */
import { attachDatabasePool } from '@vercel/functions';
import { drizzle } from 'drizzle-orm/node-postgres';
import { pgTable, serial, text, timestamp } from 'drizzle-orm/pg-core';
import pg from 'pg';
import { type Database, takeLocalDatabase } from './local-database.js';

const local = takeLocalDatabase();

// Fluid compute serves many requests per instance; the pool is shared by them and by the tasks
// they start, so it has room for the manager's concurrency plus the requests themselves. It opens
// no connection until a query needs one, so with a local database it stays idle.
export const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL, max: 10 });
attachDatabasePool(pool);

export const db: Database = local ?? drizzle(pool);

/** Whether the functions have a database to reach: DATABASE_URL, or the one `npm run dev` opened. */
export const hasDatabase = local !== undefined || Boolean(process.env.DATABASE_URL);

export const users = pgTable('users', {
  id: serial('id').primaryKey(),
  email: text('email').notNull().unique(),
  welcomedAt: timestamp('welcomed_at', { withTimezone: true }),
});
