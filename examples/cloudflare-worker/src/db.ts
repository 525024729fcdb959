/**
 * The database: a Neon `Pool` per invocation (a WebSocket cannot outlive the invocation that
 * opened it on Workers), and the app's tables.
 */
import { neonConfig, Pool } from '@neondatabase/serverless';
import { drizzle } from 'drizzle-orm/neon-serverless';
import { integer, pgTable, serial, text, timestamp, unique } from 'drizzle-orm/pg-core';
import type { Env } from './env.js';

export const teams = pgTable('teams', {
  id: serial('id').primaryKey(),
  name: text('name').notNull(),
  seats: integer('seats').notNull(),
  seatsUsed: integer('seats_used').notNull().default(0),
});

export const invitations = pgTable(
  'invitations',
  {
    id: serial('id').primaryKey(),
    teamId: integer('team_id')
      .notNull()
      .references(() => teams.id),
    email: text('email').notNull(),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
    sentAt: timestamp('sent_at', { withTimezone: true }),
  },
  (table) => [unique().on(table.teamId, table.email)],
);

/** The app's tables; `POST /setup` creates them next to gta's. */
export const SCHEMA = [
  `create table if not exists teams (
    id serial primary key,
    name text not null,
    seats integer not null check (seats > 0),
    seats_used integer not null default 0
  )`,
  `create table if not exists invitations (
    id serial primary key,
    team_id integer not null references teams (id),
    email text not null,
    created_at timestamptz not null default now(),
    sent_at timestamptz,
    unique (team_id, email)
  )`,
];

/**
 * Opens the invocation's database. The pool keeps at most two sockets: Workers allow an
 * invocation six simultaneous outgoing connections, and the tasks' mail calls need the rest.
 */
export function openDatabase(env: Env) {
  if (env.NEON_WS_PROXY) useLocalProxy(env.NEON_WS_PROXY);
  const pool = new Pool({ connectionString: env.DATABASE_URL, max: 2 });
  return { db: drizzle({ client: pool }), close: () => pool.end() };
}

export type Database = ReturnType<typeof openDatabase>['db'];

// A local proxy speaks plain WebSockets to a Postgres without TLS, so the driver must neither
// encrypt nor pipeline the TLS and startup messages it would send to Neon.
function useLocalProxy(proxy: string): void {
  neonConfig.wsProxy = (host, port) => `${proxy}?address=${host}:${port}`;
  neonConfig.useSecureWebSocket = false;
  neonConfig.pipelineTLS = false;
  neonConfig.pipelineConnect = false;
}
