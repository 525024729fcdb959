/**
 * The examples' `npm run migrate` as a new user meets it: without DATABASE_URL, or with one that
 * does not answer, it prints one line saying what to do and exits 1; with the local Postgres it
 * migrates. Each guarantee next to its test.
 */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { POSTGRES_URL, postgresAvailable } from '../../core/test/support/databases.js';

const run = promisify(execFile);
const hasPostgres = await postgresAvailable();
const root = fileURLToPath(new URL('../..', import.meta.url));

async function migrate(example: string, env: Record<string, string | undefined>) {
  const { DATABASE_URL: _unset, ...inherited } = process.env;
  try {
    const { stdout, stderr } = await run('npx', ['tsx', 'scripts/migrate.ts'], {
      cwd: `${root}examples/${example}`,
      env: { ...inherited, ...env },
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code: number; stdout: string; stderr: string };
    return { code: failed.code, stdout: failed.stdout, stderr: failed.stderr };
  }
}

describe.each(['vercel', 'aws-lambda'])('examples/%s: npm run migrate', (example) => {
  // Guarantee: a missing DATABASE_URL is one line naming the variable, not a driver's stack.
  it('without DATABASE_URL, says in one line to set it and exits 1', async () => {
    const result = await migrate(example, {});
    expect(result.code).toBe(1);
    expect(result.stderr.trim().split('\n')).toEqual([
      expect.stringMatching(/^DATABASE_URL is not set: run `DATABASE_URL=/),
    ]);
  }, 30_000);

  it('with a database that refuses the connection, says why in one line and exits 1', async () => {
    const result = await migrate(example, { DATABASE_URL: 'postgres://postgres@127.0.0.1:1/none' });
    expect(result.code).toBe(1);
    expect(result.stderr.trim().split('\n')).toEqual(['migrate failed: connect ECONNREFUSED 127.0.0.1:1']);
  }, 30_000);

  it.skipIf(!hasPostgres)(
    'with the local Postgres, migrates',
    async () => {
      const result = await migrate(example, { DATABASE_URL: POSTGRES_URL });
      expect(result).toMatchObject({ code: 0, stdout: 'migrated\n' });
    },
    30_000,
  );
});
