/**
 * The database: one node-postgres pool per function instance, handed to Vercel so idle
 * connections are closed before the instance is suspended, and the app's own table.
 */
import { attachDatabasePool } from '@vercel/functions';
import { drizzle } from 'drizzle-orm/node-postgres';
import { pgTable, serial, text, timestamp } from 'drizzle-orm/pg-core';
import pg from 'pg';

// Fluid compute serves many requests per instance; the pool is shared by them and by the tasks
// they start, so it has room for the manager's concurrency plus the requests themselves.
export const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL, max: 10 });
attachDatabasePool(pool);

export const db = drizzle(pool);

export const users = pgTable('users', {
  id: serial('id').primaryKey(),
  email: text('email').notNull().unique(),
  welcomedAt: timestamp('welcomed_at', { withTimezone: true }),
});
