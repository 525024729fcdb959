// Migrates an empty embedded database with migrate() and writes its schema to core/schema.sql, so
// that schema changes show in review. With --check, fails when core/schema.sql is not current.
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PGlite } from '@electric-sql/pglite';
import { drizzle } from 'drizzle-orm/pglite';
import { migrate } from '../src/storage/migrate.js';
import { dumpSchema } from './schema-dump.js';

const target = join(dirname(fileURLToPath(import.meta.url)), '..', 'schema.sql');

const client = new PGlite();
await migrate(drizzle(client));
const dump = await dumpSchema(async (text, params) => (await client.query<any>(text, params)).rows);
await client.close();

if (process.argv.includes('--check')) {
  let current = '';
  try {
    current = readFileSync(target, 'utf8');
  } catch {}
  if (current !== dump) {
    console.error('schema.sql is out of date: run npm run schema:dump -w @gta/core');
    process.exit(1);
  }
  console.log('schema.sql matches the migrated schema');
} else {
  writeFileSync(target, dump);
  console.log('wrote schema.sql from a freshly migrated database');
}
