/** Creates the app's table and gta's task table; both steps are idempotent. */
import { sql } from 'drizzle-orm';
import { db } from './db.js';
import { manager } from './manager.js';

export async function migrate(): Promise<void> {
  await db.execute(sql`create table if not exists users (
    id serial primary key,
    email text not null unique,
    welcomed_at timestamptz
  )`);
  await manager.migrate();
}
