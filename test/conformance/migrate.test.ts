/**
 * `migrate(db)` on every driver, from the embedded SQL: it builds exactly the committed schema
 * (core/schema.sql), is idempotent, and applies each migration once when instances race. On
 * neon-http, which has no interactive transactions, it takes the batch path; that path's race and
 * rollback are checked deterministically here.
 */
import { readFileSync } from 'node:fs';
import { migrate, migrationStatements, type SqlExecutor } from '@gta/core';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dumpSchema } from '../../core/scripts/schema-dump.js';
import { itNeeding } from '../../core/test/semantics/driver.js';
import { postgresAvailable, type TestDatabase } from '../../core/test/support/databases.js';
import { ALL_DRIVERS, neonHttp, type PostgresDriver, pglite } from '../support/drivers.js';

const hasPostgres = await postgresAvailable();
const committedSchema = readFileSync(new URL('../../core/schema.sql', import.meta.url), 'utf8');
const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
const VERSIONS = migrationStatements('gta_tasks').map((migration) => migration.version);
const LATEST_VERSION = VERSIONS.at(-1)!;
const LEDGER = VERSIONS.map((version) => ({ version }));

async function ledger(database: TestDatabase, table = 'gta_tasks') {
  return database.query<{ version: number }>(`select version from "${table}_migrations" order by version`);
}

for (const driver of ALL_DRIVERS) {
  describe.skipIf(driver !== pglite && !hasPostgres)(`migrate on ${driver.name}`, () => {
    let database: TestDatabase;
    beforeAll(async () => {
      database = await driver.open();
    });
    afterAll(() => database?.close());

    it('builds exactly the schema recorded in core/schema.sql, and a second call applies nothing', async () => {
      expect(await migrate(database.db)).toEqual({ applied: VERSIONS, version: LATEST_VERSION });
      expect(await dumpSchema(database.query)).toBe(committedSchema);
      expect(await migrate(database.db)).toEqual({ applied: [], version: LATEST_VERSION });
      expect(await ledger(database)).toEqual(LEDGER);
    });

    it('migrates a table of another name, with its own ledger', async () => {
      expect(await migrate(database.db, { table: 'jobs' })).toEqual({
        applied: VERSIONS,
        version: LATEST_VERSION,
      });
      expect(await dumpSchema(database.query, 'jobs')).toBe(committedSchema.replaceAll('gta_tasks', 'jobs'));
    });

    it('upgrades a table left at version 1, keeping its tasks, to exactly the committed schema', async () => {
      const table = 'from_v1';
      const [first] = migrationStatements(table);
      for (const statement of first!.statements) await database.exec(statement);
      await database.exec(`create table "${table}_migrations" (version integer primary key, name text not null,
        applied_at timestamptz not null default now())`);
      await database.exec(`insert into "${table}_migrations" (version, name) values (1, '${first!.name}')`);
      await database.exec(`insert into "${table}" (task_key, arg, timeout_ms, run_at, created_at, updated_at)
        values ('kept', '{}', 1000, now(), now(), now())`);
      expect(await migrate(database.db, { table })).toEqual({
        applied: VERSIONS.slice(1),
        version: LATEST_VERSION,
      });
      expect(await dumpSchema(database.query, table)).toBe(committedSchema.replaceAll('gta_tasks', table));
      expect(await database.query(`select task_key from "${table}"`)).toEqual([{ task_key: 'kept' }]);
    });

    itNeeding(driver, 'concurrentSessions')(
      'upgrades from version 1 without rebuilding indexes built beforehand with CONCURRENTLY (README "Upgrading")',
      async () => {
        const table = 'from_v1_concurrently';
        const [first, ...later] = migrationStatements(table);
        for (const statement of first!.statements) await database.exec(statement);
        await database.exec(`create table "${table}_migrations" (version integer primary key, name text not null,
          applied_at timestamptz not null default now())`);
        await database.exec(`insert into "${table}_migrations" (version, name) values (1, '${first!.name}')`);
        // README's recipe, as written there: the later migrations' columns, then every index they
        // create, built first without blocking writes (core/test/schema.test.ts holds the recipe
        // to the migrations).
        const recipe = readme
          .split('\n')
          .filter((line) => /^(ALTER TABLE|CREATE (UNIQUE )?INDEX CONCURRENTLY)/.test(line))
          .map((line) => line.replaceAll('"gta_tasks', `"${table}`));
        expect(recipe.length).toBe(
          later
            .flatMap((migration) => migration.statements)
            .filter((statement) => /(INDEX|ADD COLUMN) IF NOT EXISTS/.test(statement))
            // Indexes of the tables a migration creates are built while those are empty.
            .filter(
              (statement) => !/INDEX IF NOT EXISTS "\w+" ON "\w+_(rate_slots|schedules)"/.test(statement),
            ).length,
        );
        for (const statement of recipe) await database.exec(statement);
        const built = await database.query<{ oid: number }>(
          `select indexrelid::int as oid from pg_index where indrelid = '"${table}"'::regclass order by 1`,
        );
        expect(await migrate(database.db, { table })).toEqual({
          applied: VERSIONS.slice(1),
          version: LATEST_VERSION,
        });
        expect(await dumpSchema(database.query, table)).toBe(committedSchema.replaceAll('gta_tasks', table));
        // The migration kept the indexes built beforehand (same objects), and every index is valid.
        const kept = await database.query<{ oid: number; valid: boolean }>(
          `select indexrelid::int as oid, indisvalid as valid from pg_index where indrelid = '"${table}"'::regclass`,
        );
        const builtOids = built.map(({ oid }) => oid);
        // The indexes later migrations replace went: (status, updated_at), and the due index that had no priority.
        expect(kept).toHaveLength(builtOids.length - 2);
        expect(kept.every(({ oid, valid }) => builtOids.includes(oid) && valid)).toBe(true);
      },
    );

    itNeeding(driver, 'concurrentSessions')(
      'applies each migration once when four instances migrate at the same moment',
      async () => {
        const instances = await Promise.all(
          [1, 2, 3, 4].map(() => (driver as PostgresDriver).connect(database.url!)),
        );
        try {
          const results = await Promise.all(instances.map(({ db }) => migrate(db, { table: 'raced' })));
          expect(results.map((result) => result.applied).sort()).toEqual([[], [], [], VERSIONS]);
          expect(await ledger(database, 'raced')).toEqual(LEDGER);
        } finally {
          await Promise.all(instances.map((instance) => instance.close()));
        }
      },
    );
  });
}

describe.skipIf(!hasPostgres)('migrate through db.batch (neon-http)', () => {
  let database: TestDatabase;
  beforeAll(async () => {
    database = await neonHttp.open();
  });
  afterAll(() => database?.close());

  /** neon-http's database, with `before` run ahead of each of its batches. */
  function withBeforeBatch(before: (batch: number) => Promise<void>): SqlExecutor & { batch: unknown } {
    const { db } = database;
    let batches = 0;
    return {
      execute: (query) => db.execute(query),
      batch: async (queries: unknown[]) => {
        await before(++batches);
        return db.batch(queries);
      },
    };
  }

  it('refuses db.transaction, so migrate takes the batch path', async () => {
    await expect(database.db.transaction(async () => {})).rejects.toThrow('No transactions support');
    expect(await migrate(database.db, { table: 'batched' })).toEqual({
      applied: VERSIONS,
      version: LATEST_VERSION,
    });
    expect(await ledger(database, 'batched')).toEqual(LEDGER);
  });

  it('when another instance migrates between its read and its apply, rolls back, reads again and applies nothing', async () => {
    const racer = withBeforeBatch(async (batch) => {
      // Batch 1 read an empty ledger; before batch 2 applies, another instance completes the migration.
      if (batch === 2)
        expect(await migrate(database.db, { table: 'overtaken' })).toMatchObject({ applied: VERSIONS });
    });
    expect(await migrate(racer, { table: 'overtaken' })).toEqual({ applied: [], version: LATEST_VERSION });
    expect(await ledger(database, 'overtaken')).toEqual(LEDGER);
  });

  it('leaves neither the table nor a ledger row when the apply batch fails', async () => {
    const { db } = database;
    const failing = {
      execute: (query: Parameters<SqlExecutor['execute']>[0]) => db.execute(query),
      batch: (queries: unknown[]) =>
        // The apply batch (the only one longer than the ledger read) fails on its last statement.
        db.batch(queries.length > 3 ? [...queries, db.execute(sql`select 1 / 0`)] : queries),
    };
    await expect(migrate(failing, { table: 'half_done' })).rejects.toMatchObject({
      code: 'GTA_STORAGE_ERROR',
      message: expect.stringContaining('division by zero'),
    });
    expect(await database.query(`select to_regclass('half_done') as found`)).toEqual([{ found: null }]);
    expect(await ledger(database, 'half_done')).toEqual([]);
  });
});
