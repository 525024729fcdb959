import { readFileSync } from 'node:fs';
import { getTableConfig } from 'drizzle-orm/pg-core';
import { describe, expect, it } from 'vitest';
import { gtaTasksTable, migrationStatements } from '../src/index.js';

const committedSchema = readFileSync(new URL('../schema.sql', import.meta.url), 'utf8');

describe('gtaTasksTable, the drizzle schema for users', () => {
  const config = getTableConfig(gtaTasksTable());

  it('has the columns the migrations create, in their order', () => {
    const tableBlock = committedSchema.slice(committedSchema.indexOf('CREATE TABLE gta_tasks ('));
    const migrated = tableBlock
      .slice(0, tableBlock.indexOf(');'))
      .split('\n')
      .slice(1)
      .map((line) => line.trim().split(' ')[0])
      .filter((name) => name !== '');
    expect(config.columns.map((column) => column.name)).toEqual(migrated);
  });

  it('declares the indexes the migrations create, on the same columns', () => {
    const migrated = [
      ...committedSchema.matchAll(
        /CREATE (?:UNIQUE )?INDEX (\w+) ON public\.gta_tasks USING btree \(([^)]*)\)/g,
      ),
    ]
      .map(([, name, columns]) => `${name}(${columns})`)
      .sort();
    const declared = config.indexes
      .map((index) => {
        const columns = index.config.columns.map((column) => {
          const { name, indexConfig } = column as { name: string; indexConfig?: { order?: string } };
          return indexConfig?.order === 'desc' ? `${name} DESC` : name;
        });
        return `${index.config.name}(${columns.join(', ')})`;
      })
      .sort();
    expect(declared).toEqual(migrated);
  });
});

describe("README's recipe for upgrading a large table", () => {
  it('builds, with CONCURRENTLY, exactly the indexes the migrations after the first create', () => {
    const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
    const recipe = readme
      .split('\n')
      .filter((line) => /^(CREATE (UNIQUE )?INDEX CONCURRENTLY|ALTER TABLE)/.test(line));
    const created = migrationStatements('gta_tasks')
      .slice(1)
      .flatMap((migration) => migration.statements)
      .flatMap((statement) => statement.split('\n'))
      .filter((line) => /^(CREATE (UNIQUE )?INDEX IF NOT EXISTS|ALTER TABLE .* ADD COLUMN)/.test(line))
      // Indexes of the tables a migration creates are built while those are empty.
      .filter((line) => !/^CREATE .* ON "gta_tasks_\w+"/.test(line))
      .map((line) => line.replace(/INDEX IF NOT EXISTS/, 'INDEX CONCURRENTLY IF NOT EXISTS'));
    // The columns come first, as the indexes on them need them.
    created.sort((a, b) => Number(b.startsWith('ALTER')) - Number(a.startsWith('ALTER')));
    expect(created.length).toBeGreaterThan(0);
    expect(recipe).toEqual(created);
  });
});
