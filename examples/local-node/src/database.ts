/**
 * The embedded database: PGlite persisted in a folder, drizzle on top, and the app's own table.
 * @module
 */
import { mkdir } from 'node:fs/promises';
import { PGlite } from '@electric-sql/pglite';
import type { TransactionOf } from '@gta/core';
import { integer, pgTable, serial, text, timestamp } from 'drizzle-orm/pg-core';
import { drizzle } from 'drizzle-orm/pglite';

export const orders = pgTable('orders', {
  id: serial('id').primaryKey(),
  email: text('email').notNull(),
  item: text('item').notNull(),
  amountCents: integer('amount_cents').notNull(),
  status: text('status').notNull(),
  createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
});

export type Order = typeof orders.$inferSelect;

export interface Database {
  client: PGlite;
  db: ReturnType<typeof drizzle>;
}

export async function openDatabase(dataDir: string): Promise<Database> {
  await mkdir(dataDir, { recursive: true });
  const client = new PGlite(dataDir);
  await client.waitReady;
  return { client, db: drizzle(client) };
}

/** The app's table is plain SQL on purpose: gta only owns its task table, created by `manager.migrate()`. */
export async function createAppTables({ client }: Database): Promise<void> {
  await client.exec(`
    create table if not exists orders (
      id serial primary key,
      email text not null,
      item text not null,
      amount_cents integer not null,
      status text not null,
      created_at timestamptz not null default now()
    );
  `);
}

/** The transaction `manager.transaction` hands its callback when the manager's db is `Database['db']`. */
export type Transaction = TransactionOf<Database['db']>;
