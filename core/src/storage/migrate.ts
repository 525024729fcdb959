/**
 * Applies the embedded migrations. Safe to call on every cold start and from many instances at
 * once: a transaction-scoped advisory lock serialises concurrent callers, and applied versions
 * are recorded in `<table>_migrations`.
 * @module
 */
import { sql } from 'drizzle-orm';
import { DEFAULT_TABLE } from '../options.js';
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

type MaybeTransactional = SqlExecutor & {
  transaction?: <T>(fn: (tx: SqlExecutor) => Promise<T>) => Promise<T>;
};

/** The embedded migration statements, with the table name substituted. */
export function migrationStatements(
  table: string,
): { version: number; name: string; statements: string[] }[] {
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
  const run = async (executor: SqlExecutor): Promise<MigrateResult> => {
    const ledger = sql.identifier(`${table}_migrations`);
    await queryRows(
      executor,
      'migrate: lock',
      sql`select pg_advisory_xact_lock(hashtext(${`gta:migrate:${table}`}))`,
    );
    await queryRows(
      executor,
      'migrate: ledger',
      sql`create table if not exists ${ledger} (version integer primary key, name text not null, applied_at timestamptz not null default now())`,
    );
    const done = await queryRows<{ version: number }>(
      executor,
      'migrate: versions',
      sql`select version from ${ledger}`,
    );
    const appliedBefore = new Set(done.map((row) => Number(row.version)));
    const applied: number[] = [];
    for (const migration of migrationStatements(table)) {
      if (appliedBefore.has(migration.version)) continue;
      for (const statement of migration.statements) {
        await queryRows(executor, `migrate: ${migration.version}_${migration.name}`, sql.raw(statement));
      }
      await queryRows(
        executor,
        'migrate: record',
        sql`insert into ${ledger} (version, name) values (${migration.version}, ${migration.name}) on conflict do nothing`,
      );
      applied.push(migration.version);
    }
    return { applied, version: MIGRATIONS.length };
  };
  const transactional = db as MaybeTransactional;
  if (typeof transactional.transaction === 'function') return transactional.transaction(run);
  return run(db);
}
