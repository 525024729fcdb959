/**
 * The seam through which `npm run dev` (`scripts/dev.ts`) runs the function on an embedded
 * PGlite: it hands its database over here before it loads the handler, and `db.ts` takes it in
 * place of the node-postgres pool. Deployed, nothing hands one over, and `db.ts` opens the pool
 * from DATABASE_URL.
 */
import type { PgDatabase, PgQueryResultHKT } from 'drizzle-orm/pg-core';

/** What the app and tasks use of their database: drizzle over any Postgres driver. */
export type Database = PgDatabase<PgQueryResultHKT>;

let handedOver: Database | undefined;
let taken = false;

/**
 * Has `db.ts` use `db`. Throws once `db.ts` has loaded: the handler would already be on the
 * pool, and a second database would go unnoticed.
 */
export function useLocalDatabase(db: Database): void {
  if (taken) throw new Error('useLocalDatabase must be called before src/db.ts is imported');
  handedOver = db;
}

/** Called by `db.ts` as it loads: the database handed over, if any. */
export function takeLocalDatabase(): Database | undefined {
  taken = true;
  return handedOver;
}
