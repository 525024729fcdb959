/**
 * Applies the embedded migrations (no file system needed). Safe to call on every cold start and
 * from many instances at once: each migration is applied once, together with its row in
 * `<table>_migrations`, whatever the driver.
 *
 * - With interactive transactions (node-postgres, postgres-js, neon-serverless, PGlite), one
 *   transaction takes a transaction-scoped advisory lock, reads the ledger and applies what is
 *   missing, so concurrent callers wait for each other.
 * - With only batches (neon-http: `db.transaction` refuses to start, `db.batch` runs its
 *   statements in one transaction), one batch reads the ledger and a second applies what was
 *   missing. The second takes the same lock, then inserts each migration's ledger row before its
 *   statements: if a concurrent caller applied one in between, that insert fails, the whole batch
 *   rolls back, and the ledger is read again. The guarantee is the same; only a caller that lost
 *   the race pays one more round trip.
 * - An executor with neither runs the statements one by one. The migrations are idempotent
 *   (`if not exists`), so concurrent callers do no harm, but a failure part-way leaves what ran.
 *
 * The only lock is transaction-scoped, so this works through PgBouncer in transaction mode.
 * @module
 */
import { type SQL, sql } from 'drizzle-orm';
import { ERROR_CODES, GtaError } from '../errors.js';
import { DEFAULT_TABLE } from '../options.js';
import { runTransaction } from '../transaction-client.js';
import type { SqlExecutor } from '../types.js';
import { MIGRATIONS } from './migrations.generated.js';
import { queryRows } from './sql.js';

export interface MigrateOptions {
  /** @defaultValue "gta_tasks" */
  table?: string;
}

export interface MigrateResult {
  /** Versions applied by this call (empty when the schema was already current). */
  applied: number[];
  /** The schema version after the call. */
  version: number;
}

type Migration = { version: number; name: string; statements: string[] };

type Transactional = SqlExecutor & {
  transaction<T>(fn: (tx: SqlExecutor) => Promise<T>): Promise<T>;
};

/** A database whose `batch` runs statements built by its `execute` in one transaction. */
type Batching = SqlExecutor & {
  batch(queries: PromiseLike<unknown>[]): Promise<unknown[]>;
};

/** The embedded migration statements, with the table name substituted. */
export function migrationStatements(table: string): Migration[] {
  return MIGRATIONS.map((migration) => ({
    version: migration.version,
    name: migration.name,
    statements: migration.statements.map((statement) =>
      statement.replaceAll(`"${DEFAULT_TABLE}`, `"${table}`),
    ),
  }));
}

/**
 * Creates or upgrades the task table on `db` (any drizzle Postgres driver).
 * @example await migrate(db) // or manager.migrate()
 */
export async function migrate(db: SqlExecutor, options: MigrateOptions = {}): Promise<MigrateResult> {
  const table = options.table ?? DEFAULT_TABLE;
  if (isTransactional(db)) {
    let started = false;
    try {
      // Through runTransaction, so that a connection fault on a pool costs no pooled connection.
      return await runTransaction(db, (tx) => {
        started = true;
        return applyOneByOne(tx, table);
      });
    } catch (error) {
      // A driver without interactive transactions (neon-http) refuses before running anything.
      if (started || !isBatching(db)) throw error;
    }
  }
  if (isBatching(db)) return applyInBatches(db, table);
  return applyOneByOne(db, table);
}

/** Locks, reads the ledger and applies what is missing, one statement at a time on `executor`. */
async function applyOneByOne(executor: SqlExecutor, table: string): Promise<MigrateResult> {
  await queryRows(executor, 'migrate: lock', lockStatement(table));
  await queryRows(executor, 'migrate: ledger', createLedgerStatement(table));
  const done = await queryRows<{ version: number }>(executor, 'migrate: versions', versionsStatement(table));
  const appliedBefore = new Set(done.map((row) => Number(row.version)));
  const applied: number[] = [];
  for (const migration of migrationStatements(table)) {
    if (appliedBefore.has(migration.version)) continue;
    for (const statement of migration.statements) {
      await queryRows(executor, `migrate: ${migration.version}_${migration.name}`, sql.raw(statement));
    }
    await queryRows(executor, 'migrate: record', recordStatement(table, migration, { ifAbsent: true }));
    applied.push(migration.version);
  }
  return { applied, version: MIGRATIONS.length };
}

/** The batch-only path (see the module comment): read the ledger, then apply the rest in one batch. */
async function applyInBatches(db: Batching, table: string): Promise<MigrateResult> {
  for (;;) {
    const appliedBefore = await appliedVersions(db, table);
    const pending = migrationStatements(table).filter((migration) => !appliedBefore.has(migration.version));
    if (pending.length === 0) return { applied: [], version: MIGRATIONS.length };
    try {
      await runBatch(db, 'migrate', [
        lockStatement(table),
        ...pending.flatMap((migration) => [
          recordStatement(table, migration, { ifAbsent: false }),
          ...migration.statements.map((statement) => sql.raw(statement)),
        ]),
      ]);
      return { applied: pending.map((migration) => migration.version), version: MIGRATIONS.length };
    } catch (error) {
      // If a concurrent caller recorded some of these first, this batch rolled back: read again.
      // If none was, the failure is this batch's own.
      const appliedNow = await appliedVersions(db, table);
      if (!pending.some((migration) => appliedNow.has(migration.version))) throw error;
    }
  }
}

async function appliedVersions(db: Batching, table: string): Promise<Set<number>> {
  // Locked, so two callers' `create table if not exists` cannot collide on the ledger's creation.
  const results = await runBatch(db, 'migrate: versions', [
    lockStatement(table),
    createLedgerStatement(table),
    versionsStatement(table),
  ]);
  return new Set(rowsOf<{ version: number }>(results[2]).map((row) => Number(row.version)));
}

/** Runs `statements` as one `db.batch`, with a failure wrapped like every storage error. */
async function runBatch(db: Batching, operation: string, statements: SQL[]): Promise<unknown[]> {
  try {
    return await db.batch(statements.map((statement) => db.execute(statement)));
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    throw new GtaError(ERROR_CODES.storage, `${operation} failed: ${message}`, { cause: error });
  }
}

/** Serialises concurrent migrations of one table until the enclosing transaction ends. */
function lockStatement(table: string): SQL {
  return sql`select pg_advisory_xact_lock(hashtext(${`gta:migrate:${table}`}))`;
}

function ledgerOf(table: string): SQL {
  return sql`${sql.identifier(`${table}_migrations`)}`;
}

function createLedgerStatement(table: string): SQL {
  return sql`create table if not exists ${ledgerOf(table)} (version integer primary key, name text not null, applied_at timestamptz not null default now())`;
}

function versionsStatement(table: string): SQL {
  return sql`select version from ${ledgerOf(table)}`;
}

/** The ledger row of `migration`; unless `ifAbsent`, a row already there fails the statement. */
function recordStatement(table: string, migration: Migration, { ifAbsent }: { ifAbsent: boolean }): SQL {
  const insert = sql`insert into ${ledgerOf(table)} (version, name) values (${migration.version}, ${migration.name})`;
  return ifAbsent ? sql`${insert} on conflict do nothing` : insert;
}

/** The rows of one batch result: `{ rows }` from neon-http, an array from drivers that answer so. */
function rowsOf<Row>(result: unknown): Row[] {
  if (Array.isArray(result)) return result as Row[];
  const rows = (result as { rows?: unknown } | null)?.rows;
  if (Array.isArray(rows)) return rows as Row[];
  throw new GtaError(ERROR_CODES.storage, 'migrate: the driver returned no rows array');
}

function isTransactional(db: SqlExecutor): db is Transactional {
  return typeof (db as Partial<Transactional>).transaction === 'function';
}

function isBatching(db: SqlExecutor): db is Batching {
  return typeof (db as Partial<Batching>).batch === 'function';
}
