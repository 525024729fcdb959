// Embeds migrations/*.sql into src/storage/migrations.generated.ts, so a Worker can migrate
// without a file system. With --check, fails when the embedded module has drifted from the files.
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const migrationsDir = join(root, 'migrations');
const target = join(root, 'src/storage/migrations.generated.ts');

const files = readdirSync(migrationsDir)
  .filter((name) => /^\d{4}_[a-z0-9_]+\.sql$/.test(name))
  .sort();
const migrations = files.map((name) => ({
  version: Number(name.slice(0, 4)),
  name: name.slice(5, -4),
  statements: readFileSync(join(migrationsDir, name), 'utf8')
    .split('--> statement-breakpoint')
    .map((statement) => statement.trim())
    .filter((statement) => statement.length > 0),
}));
migrations.forEach((migration, index) => {
  if (migration.version !== index + 1)
    throw new Error(`migration numbers must run 1, 2, 3…: ${files[index]}`);
});

const source = `// Generated from core/migrations/*.sql by scripts/generate-migrations.mjs. Do not edit.
export interface EmbeddedMigration {
  version: number;
  name: string;
  /** Statements written for the default table name "gta_tasks". */
  statements: readonly string[];
}

export const MIGRATIONS: readonly EmbeddedMigration[] = ${JSON.stringify(migrations, null, 2)};
`;

if (process.argv.includes('--check')) {
  let current = '';
  try {
    current = readFileSync(target, 'utf8');
  } catch {}
  if (current !== source) {
    console.error(
      'src/storage/migrations.generated.ts is out of date: run npm run migrations:generate -w @gta/core',
    );
    process.exit(1);
  }
  console.log(`embedded migrations match ${files.length} SQL file(s)`);
} else {
  writeFileSync(target, source);
  console.log(`embedded ${files.length} migration(s) into src/storage/migrations.generated.ts`);
}
