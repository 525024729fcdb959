// Copies the built core (core/dist) to bench/variants/<name>, for `npm run ab` to compare builds.
import { cpSync, existsSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const name = process.argv[2];
if (!name || !/^[\w.-]+$/.test(name)) {
  console.error('usage: npm run snapshot -w @gta/bench -- <name>   (letters, digits, . _ -)');
  process.exit(1);
}
const bench = join(dirname(fileURLToPath(import.meta.url)), '..');
const built = join(bench, '..', 'core', 'dist');
if (!existsSync(join(built, 'index.js'))) {
  console.error('core/dist is missing: run npm run build -w @gta/core first');
  process.exit(1);
}
const target = join(bench, 'variants', name);
rmSync(target, { recursive: true, force: true });
cpSync(built, target, { recursive: true });
console.log(`snapshot of core/dist written to bench/variants/${name}`);
