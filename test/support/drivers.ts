/**
 * The five drizzle drivers gta supports, as the conformance suite opens them: PGlite in memory, and
 * a fresh database on the real Postgres for the others, reached through node-postgres, postgres-js,
 * or the real Neon driver through the local Neon proxy (WebSocket for `neon-serverless`, SQL over
 * HTTP for `neon-http`).
 */
import { PGlite } from '@electric-sql/pglite';
import * as neonProxy from '@gta/neon-proxy';
import { Pool as NeonPool, neon, neonConfig } from '@neondatabase/serverless';
import { drizzle as drizzleNeonHttp } from 'drizzle-orm/neon-http';
import { drizzle as drizzleNeonServerless } from 'drizzle-orm/neon-serverless';
import { drizzle as drizzleNodePostgres } from 'drizzle-orm/node-postgres';
import { drizzle as drizzlePglite } from 'drizzle-orm/pglite';
import { drizzle as drizzlePostgresJs } from 'drizzle-orm/postgres-js';
import pg from 'pg';
import postgres from 'postgres';
import WebSocket from 'ws';
import type { DriverUnderTest } from '../../core/test/semantics/driver.js';
import {
  createPgliteDatabase,
  createPostgresDatabase,
  type DriverConnection,
  endPool,
  POSTGRES_URL,
} from '../../core/test/support/databases.js';

/** A driver on the real Postgres: it can also open more connections, as separate instances would. */
export interface PostgresDriver extends DriverUnderTest {
  /** A new client of this driver on `url`, owned (and closed) by the caller. */
  connect(url: string): Promise<DriverConnection>;
}

/** Why neon-http cannot run what needs an interactive transaction. */
const NO_INTERACTIVE_TRANSACTIONS =
  'each statement is its own HTTP request, so there is no open transaction to send statements into ' +
  '(drizzle’s db.transaction throws); db.batch([...]) is its atomic form, tested in neon-http-batch.test.ts';

/**
 * A user's own client of each driver, opened the way the README shows (the Neon ones once
 * `neonConfig` points at a proxy). The caller owns it and closes it.
 */
export const userClients = {
  'drizzle-orm/pglite': async () => {
    const client = new PGlite();
    return { db: drizzlePglite({ client }), close: () => client.close() };
  },
  'drizzle-orm/node-postgres': async (url: string) => {
    const pool = new pg.Pool({ connectionString: url, max: 10 });
    return { db: drizzleNodePostgres({ client: pool }), close: () => endPool(pool) };
  },
  'drizzle-orm/postgres-js': async (url: string) => {
    const client = postgres(url, { max: 10, onnotice: () => {} });
    return { db: drizzlePostgresJs({ client }), close: () => client.end({ timeout: 5 }) };
  },
  'drizzle-orm/neon-serverless': async (url: string) => {
    const pool = new NeonPool({ connectionString: url, max: 10 });
    // Neon's Pool is node-postgres's, over WebSockets; it ends the same way.
    return { db: drizzleNeonServerless({ client: pool }), close: () => endPool(pool as unknown as pg.Pool) };
  },
  'drizzle-orm/neon-http': async (url: string) => ({
    db: drizzleNeonHttp({ client: neon(url) }),
    // Nothing to close: every statement is a request of its own.
    close: async () => {},
  }),
} satisfies Record<string, (url: string) => Promise<DriverConnection>>;

export type DriverName = keyof typeof userClients;

export const pglite: DriverUnderTest = {
  name: 'drizzle-orm/pglite',
  open: createPgliteDatabase,
  lacks: {
    concurrentSessions:
      'PGlite is one embedded connection: statements run one after another, so none can wait on another',
  },
};

function postgresDriver(
  name: Exclude<DriverName, 'drizzle-orm/pglite'>,
  connect: (url: string) => Promise<DriverConnection>,
  lacks: DriverUnderTest['lacks'] = {},
): PostgresDriver {
  return { name, connect, lacks, open: () => createPostgresDatabase({ connect }) };
}

export const nodePostgres = postgresDriver(
  'drizzle-orm/node-postgres',
  userClients['drizzle-orm/node-postgres'],
);

export const postgresJs = postgresDriver('drizzle-orm/postgres-js', userClients['drizzle-orm/postgres-js']);

export const neonServerless = postgresDriver('drizzle-orm/neon-serverless', (url) =>
  throughNeonProxy(() => userClients['drizzle-orm/neon-serverless'](url)),
);

export const neonHttp = postgresDriver(
  'drizzle-orm/neon-http',
  (url) => throughNeonProxy(() => userClients['drizzle-orm/neon-http'](url)),
  { interactiveTransactions: NO_INTERACTIVE_TRANSACTIONS },
);

const POSTGRES_DRIVERS = [nodePostgres, postgresJs, neonServerless, neonHttp];
export const ALL_DRIVERS: DriverUnderTest[] = [pglite, ...POSTGRES_DRIVERS];

/**
 * Points the Neon driver's process-wide `neonConfig` at a local proxy: plain `ws://` (the proxy
 * has no certificate), the `ws` package as WebSocket (Node 20 has none built in), no TLS to
 * Postgres and so nothing to pipeline, and no pipelined password, which the local server's trust
 * authentication never asks for.
 */
export function useNeonProxy(endpoints: neonProxy.NeonEndpoints): void {
  neonConfig.webSocketConstructor = WebSocket;
  neonConfig.wsProxy = endpoints.wsProxyUrlFor;
  neonConfig.useSecureWebSocket = false;
  neonConfig.pipelineTLS = false;
  neonConfig.pipelineConnect = false;
  neonConfig.fetchEndpoint = endpoints.httpEndpoint;
}

/** The proxy this process's Neon connections share (`neonConfig` is process-wide), while any is open. */
let sharedProxy: { proxy: Promise<neonProxy.NeonProxy>; users: number } | null = null;

/** Connects through the shared proxy, starting it for the first connection and closing it after the last. */
async function throughNeonProxy(connect: () => Promise<DriverConnection>): Promise<DriverConnection> {
  sharedProxy ??= { proxy: neonProxy.start({ postgresUrl: POSTGRES_URL }), users: 0 };
  const shared = sharedProxy;
  shared.users++;
  const release = async () => {
    if (--shared.users > 0) return;
    if (sharedProxy === shared) sharedProxy = null;
    await (await shared.proxy).close();
  };
  let connection: DriverConnection;
  try {
    useNeonProxy(await shared.proxy);
    connection = await connect();
  } catch (error) {
    await release();
    throw error;
  }
  return {
    db: connection.db,
    close: async () => {
      await connection.close();
      await release();
    },
  };
}
