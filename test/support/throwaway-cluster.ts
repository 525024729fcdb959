/**
 * A Postgres cluster of a test's own, for faults that must never reach the shared server at
 * DATABASE_URL: `initdb` into a temporary directory, listening on 127.0.0.1 at a free port with its
 * socket in that directory, started and restarted with `pg_ctl` (as the `postgres` user when the
 * test runs as root, since Postgres refuses to run as root), and removed by `destroy()`.
 *
 * The binaries are Debian's, under /usr/lib/postgresql/<version>/bin (the newest version there).
 * @example
 * const cluster = await startThrowawayCluster();
 * const pool = new pg.Pool({ connectionString: cluster.url });
 * await cluster.restart();
 * await cluster.destroy();
 */
import { execFile, execFileSync } from 'node:child_process';
import { existsSync, readdirSync, rmSync } from 'node:fs';
import { mkdtemp, readFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { POSTGRES_REQUIRED } from '../../core/test/support/databases.js';

const run = promisify(execFile);

/** Where Debian installs each Postgres version's server binaries. */
const POSTGRES_VERSIONS_DIR = '/usr/lib/postgresql';
/** Generous for initdb, start and restart on a busy two-core machine; they take about a second. */
const PG_CTL_TIMEOUT_S = 30;

export interface ThrowawayCluster {
  /** The `postgres` database of this cluster (trust authentication, user `postgres`). */
  url: string;
  port: number;
  /** The connection string of another database of this cluster. */
  urlFor(database: string): string;
  /** Ends every client backend and waits until each has exited; resolves to how many there were. */
  terminateBackends(): Promise<number>;
  /** `pg_ctl restart -m fast`: every connection is cut, and the server accepts new ones on return. */
  restart(): Promise<void>;
  /** Stops the server and removes its directory. */
  destroy(): Promise<void>;
}

/** The newest installed Postgres's bin directory, or null when none has initdb. */
function postgresBinDir(): string | null {
  if (!existsSync(POSTGRES_VERSIONS_DIR)) return null;
  const versions = readdirSync(POSTGRES_VERSIONS_DIR)
    .filter((version) => existsSync(join(POSTGRES_VERSIONS_DIR, version, 'bin', 'initdb')))
    .sort((a, b) => Number(b) - Number(a));
  return versions[0] ? join(POSTGRES_VERSIONS_DIR, versions[0], 'bin') : null;
}

/**
 * Whether a throwaway cluster can be made here; throws when it cannot and GTA_REQUIRE_POSTGRES=1,
 * so CI fails instead of silently skipping the restart tests.
 */
export function throwawayClusterAvailable(): boolean {
  if (postgresBinDir()) return true;
  const reason = `no Postgres server binaries (initdb) under ${POSTGRES_VERSIONS_DIR}/<version>/bin`;
  if (POSTGRES_REQUIRED) throw new Error(`GTA_REQUIRE_POSTGRES=1 but ${reason}`);
  console.warn(`${reason}; the database restart suites are skipped`);
  return false;
}

/** Postgres refuses to run as root, so root runs its binaries as the `postgres` user. */
function asPostgres(binary: string, args: string[]): [string, string[]] {
  return process.getuid?.() === 0 ? ['runuser', ['-u', 'postgres', '--', binary, ...args]] : [binary, args];
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

export async function startThrowawayCluster(): Promise<ThrowawayCluster> {
  const bin = postgresBinDir();
  if (!bin) throw new Error(`no Postgres server binaries under ${POSTGRES_VERSIONS_DIR}`);
  const dir = await mkdtemp(join(tmpdir(), 'gta-cluster-'));
  const data = join(dir, 'data');
  const log = join(dir, 'server.log');
  const port = await freePort();
  // Durability is worthless here and fsyncs slow every restart down.
  const serverOptions = [
    `-p ${port}`,
    `-k ${dir}`,
    '-c listen_addresses=127.0.0.1',
    '-c fsync=off',
    '-c synchronous_commit=off',
    '-c full_page_writes=off',
    '-c max_connections=40',
  ].join(' ');
  const postgresTool = async (tool: string, args: string[]) => {
    const [command, commandArgs] = asPostgres(join(bin, tool), args);
    try {
      await run(command, commandArgs, { timeout: (PG_CTL_TIMEOUT_S + 10) * 1000 });
    } catch (error) {
      const serverLog = await readFile(log, 'utf8').catch(() => '(no server log)');
      throw new Error(`${tool} ${args.join(' ')} failed: ${String(error)}\n${serverLog.slice(-2000)}`);
    }
  };
  const pgCtl = (...args: string[]) =>
    postgresTool('pg_ctl', [...args, '-D', data, '-w', '-t', String(PG_CTL_TIMEOUT_S)]);
  // A test process that dies without destroy() must not leave a server running or its files behind.
  const stopOnExit = () => {
    const [command, args] = asPostgres(join(bin, 'pg_ctl'), ['stop', '-D', data, '-m', 'immediate']);
    try {
      execFileSync(command, args, { stdio: 'ignore', timeout: 10_000 });
    } catch {
      // Not running: never started, or already stopped.
    }
    rmSync(dir, { recursive: true, force: true });
  };
  process.once('exit', stopOnExit);
  try {
    if (process.getuid?.() === 0) await run('chown', ['postgres:postgres', dir]);
    await postgresTool('initdb', [
      '-D',
      data,
      '-U',
      'postgres',
      '--auth=trust',
      '--no-sync',
      '--no-instructions',
      '--encoding=UTF8',
      '--locale=C',
    ]);
    await pgCtl('start', '-l', log, '-o', serverOptions);
  } catch (error) {
    process.off('exit', stopOnExit);
    stopOnExit();
    throw error;
  }

  const urlFor = (database: string) => `postgres://postgres@127.0.0.1:${port}/${database}`;
  const url = urlFor('postgres');
  return {
    url,
    port,
    urlFor,
    async terminateBackends() {
      const admin = new pg.Client({ connectionString: url });
      await admin.connect();
      try {
        // With a timeout, pg_terminate_backend waits until the backend has exited.
        const { rows } = await admin.query(
          `select pg_terminate_backend(pid, 5000) from pg_stat_activity
           where backend_type = 'client backend' and pid <> pg_backend_pid()`,
        );
        return rows.length;
      } finally {
        await admin.end();
      }
    },
    // Without -l the new server would inherit, and hold open, this process's pipe to pg_ctl.
    restart: () => pgCtl('restart', '-m', 'fast', '-l', log, '-o', serverOptions),
    async destroy() {
      process.off('exit', stopOnExit);
      try {
        await pgCtl('stop', '-m', 'fast');
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  };
}
