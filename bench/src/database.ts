/**
 * The benchmark database: a fresh one per run (`gta_bench_<random>`), created from a connection to
 * the server's `test` database and dropped at the end, so the peers' schemas never collide with
 * anything left over.
 * @module
 */
import pg from 'pg';

export const SERVER_URL = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

export function urlFor(database: string): string {
  const url = new URL(SERVER_URL);
  url.pathname = `/${database}`;
  return url.toString();
}

export async function withAdmin<T>(fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: SERVER_URL });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

/** Creates an empty database and returns its name and URL. */
export async function createBenchDatabase(): Promise<{ name: string; url: string }> {
  const name = `gta_bench_${Math.random().toString(36).slice(2, 10)}`;
  await withAdmin((client) => client.query(`create database "${name}"`));
  return { name, url: urlFor(name) };
}

export async function dropBenchDatabase(name: string): Promise<void> {
  await withAdmin((client) => client.query(`drop database if exists "${name}" with (force)`));
}

export async function serverVersion(): Promise<string> {
  return withAdmin(async (client) => {
    const { rows } = await client.query<{ server_version: string }>('show server_version');
    return rows[0]?.server_version ?? 'unknown';
  });
}
