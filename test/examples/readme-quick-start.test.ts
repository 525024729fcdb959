/**
 * The root README's quick start is a whole program: this extracts its block and runs it, from a
 * file inside the local-node example (whose dependencies it uses), so that the README cannot drift
 * from what runs; a program that ends but leaves the process waiting fails it too.
 */
import { execFile } from 'node:child_process';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, expect, it } from 'vitest';

const run = promisify(execFile);
const root = fileURLToPath(new URL('../..', import.meta.url));
// Under the example's node_modules: its imports resolve from there, and no linter or build sees it.
const scratch = `${root}examples/local-node/node_modules/.readme`;
const script = `${scratch}/quick-start.mts`; // no package.json here says "module"

afterAll(() => rm(scratch, { recursive: true, force: true }));

/** The first ```ts block after `heading` in README.md. */
async function blockAfter(heading: string): Promise<string> {
  const readme = await readFile(`${root}README.md`, 'utf8');
  const section = readme.slice(readme.indexOf(`${heading}\n`));
  const match = /```ts\n([\s\S]*?)```/.exec(section);
  if (!match) throw new Error(`README.md has no ts block after ${heading}`);
  return match[1]!;
}

// Guarantee: the quick start, run as written, commits the user and its task together, runs the
// task after the commit, and the handler's write is seen.
it('runs the README quick start as written: the welcome task runs after the commit', async () => {
  await mkdir(scratch, { recursive: true });
  await writeFile(script, await blockAfter('## Quick start'));
  const { stdout, stderr } = await run('npx', ['tsx', script], {
    cwd: `${root}examples/local-node`,
    timeout: 30_000,
  });
  expect(stderr).toBe('');
  expect(stdout).toMatch(/welcome mail sent/);
  expect(stdout).toMatch(/email: 'ada@example.com'/);
  expect(stdout).toMatch(/welcomedAt: \d{4}-\d\d-\d\dT/);
}, 60_000);
