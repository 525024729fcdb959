/**
 * Connection hygiene for serverless: gta opens no connection or pool of its own and leaves nothing
 * running after `stop()`, so once the user has closed the client they passed in (or, on neon-http,
 * without closing anything), the invocation's process ends by itself. Each driver's invocation
 * runs as its own Node process (fixtures/invocation.ts), and must exit in time with code 0.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import * as neonProxy from '@gta/neon-proxy';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createPostgresDatabase,
  POSTGRES_URL,
  postgresAvailable,
  type TestDatabase,
} from '../../core/test/support/databases.js';
import { ALL_DRIVERS, pglite } from '../support/drivers.js';

const hasPostgres = await postgresAvailable();

/** How long a process may take to end once its invocation finished: far more than an idle one needs. */
const EXIT_AFTER_DONE_MS = 5000;
/** The whole run, cold start with TypeScript on a busy machine included (PGlite alone takes seconds). */
const RUN_LIMIT_MS = 60_000;

interface Exit {
  code: number | null;
  /** Killed because it outlived its invocation (or the whole run took too long). */
  killed: boolean;
  stdout: string;
  stderr: string;
}

/**
 * Runs the invocation for `driver` and resolves when its process ends. Once it has printed its
 * result, it gets EXIT_AFTER_DONE_MS to end by itself before it is killed.
 */
function runInvocation(driver: string, env: Record<string, string>): Promise<Exit> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'conformance/fixtures/invocation.ts', driver], {
    cwd: fileURLToPath(new URL('..', import.meta.url)),
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let killed = false;
  const kill = () => {
    killed = true;
    child.kill('SIGKILL');
  };
  const timers = [setTimeout(kill, RUN_LIMIT_MS)];
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk) => {
    stdout += chunk;
    if (stdout.endsWith('\n') && timers.length === 1) timers.push(setTimeout(kill, EXIT_AFTER_DONE_MS));
  });
  child.stderr.on('data', (chunk) => {
    stderr += chunk;
  });
  return new Promise((resolve) => {
    child.on('close', (code) => {
      for (const timer of timers) clearTimeout(timer);
      resolve({ code, killed, stdout, stderr });
    });
  });
}

describe('an invocation leaves nothing open', () => {
  let database: TestDatabase | undefined;
  let proxy: neonProxy.NeonProxy | undefined;
  const env: Record<string, string> = {};
  beforeAll(async () => {
    if (!hasPostgres) return;
    database = await createPostgresDatabase();
    proxy = await neonProxy.start({ postgresUrl: POSTGRES_URL });
    Object.assign(env, {
      GTA_HYGIENE_DATABASE_URL: database.url!,
      GTA_HYGIENE_NEON_PORT: String(proxy.port),
    });
  });
  afterAll(async () => {
    await proxy?.close();
    await database?.close();
  });

  for (const driver of ALL_DRIVERS) {
    it.skipIf(driver !== pglite && !hasPostgres)(
      `${driver.name}: the process ends by itself after stop() and closing the user’s client`,
      async () => {
        const exit = await runInvocation(driver.name, env);
        expect(exit, exit.stderr).toMatchObject({ killed: false, code: 0 });
        expect(JSON.parse(exit.stdout)).toEqual({ ran: ['commit hook', 'tick', 'runner'] });
      },
      RUN_LIMIT_MS + 5000,
    );
  }
});
