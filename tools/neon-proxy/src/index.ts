/**
 * A local stand-in for Neon's edge, so the real `@neondatabase/serverless` code runs against the
 * local Postgres: one HTTP server on 127.0.0.1 that tunnels the driver's WebSockets to Postgres
 * (the `Pool`/`Client` path, drizzle's `neon-serverless`) and answers its SQL-over-HTTP requests
 * (the `neon()` path, drizzle's `neon-http`). It reaches the one Postgres server it is given, and
 * nothing else.
 *
 * Not tied to a test runner or to Node's copy of the driver: a workerd test can start it and point
 * the bundled driver's `neonConfig` at `wsProxyUrlFor` and `httpEndpoint`. For a benchmark it can
 * stand for a distant region (`addedDelayMs`) and report each SQL-over-HTTP request
 * (`onSqlRequest`); both are off unless given.
 * @example
 * const proxy = await neonProxy.start({ postgresUrl: 'postgres://postgres@127.0.0.1:5432/test' });
 * neonConfig.wsProxy = proxy.wsProxyUrlFor;
 * neonConfig.fetchEndpoint = proxy.httpEndpoint;
 * // … run the driver …
 * await proxy.close();
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { type SqlOverHttp, type SqlRequestObserver, sqlOverHttp } from './sql-over-http.js';
import { type WebSocketTunnels, webSocketTunnels } from './websocket-tunnel.js';

export type { SqlRequestObserver } from './sql-over-http.js';

export interface NeonProxyOptions {
  /** The Postgres server to reach (user, password and database come from each connection string). */
  postgresUrl: string;
  /**
   * Milliseconds of network added to every round trip, as between a function and a distant
   * region: an SQL-over-HTTP request is run half of it after it arrived and answered the other
   * half after it ran; each WebSocket message is passed on half of it late, in either direction
   * (in order). @defaultValue 0
   */
  addedDelayMs?: number;
  /** Told of each SQL-over-HTTP request, with its statements, and of its answer (see {@link SqlRequestObserver}). */
  onSqlRequest?: SqlRequestObserver;
}

/** Where the Neon driver finds a proxy: what `neonConfig.wsProxy` and `neonConfig.fetchEndpoint` take. */
export interface NeonEndpoints {
  /** For `neonConfig.wsProxy`: where the driver opens the WebSocket for Postgres at `host:port`. */
  wsProxyUrlFor(host: string, port: number | string): string;
  /** For `neonConfig.fetchEndpoint`: the SQL-over-HTTP endpoint. */
  httpEndpoint: string;
}

export interface NeonProxy extends NeonEndpoints {
  /** The port on 127.0.0.1. */
  port: number;
  /** Stops the server and cuts every tunnel and connection it holds. */
  close(): Promise<void>;
}

/** The endpoints of a proxy listening on `port`, for a process that did not start it. */
export function endpointsAt(port: number): NeonEndpoints {
  return {
    wsProxyUrlFor: (host, postgresPort) => `127.0.0.1:${port}/v2?address=${host}:${postgresPort}`,
    httpEndpoint: `http://127.0.0.1:${port}/sql`,
  };
}

export async function start({
  postgresUrl,
  addedDelayMs = 0,
  onSqlRequest,
}: NeonProxyOptions): Promise<NeonProxy> {
  if (!(Number.isFinite(addedDelayMs) && addedDelayMs >= 0)) {
    throw new RangeError(`addedDelayMs must be a number of milliseconds ≥ 0, got ${addedDelayMs}`);
  }
  const target = new URL(postgresUrl);
  const allowedAddress = `${target.hostname}:${target.port || '5432'}`;
  const tunnels: WebSocketTunnels = webSocketTunnels(allowedAddress, { addedDelayMs });
  const sql: SqlOverHttp = sqlOverHttp(allowedAddress, { addedDelayMs, onRequest: onSqlRequest });
  const server = http.createServer((request, response) => {
    if (request.method === 'POST' && request.url === '/sql') void sql.handle(request, response);
    else response.writeHead(404).end();
  });
  server.on('upgrade', tunnels.upgrade);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    port,
    ...endpointsAt(port),
    async close() {
      const stopped = new Promise<void>((resolve) => server.close(() => resolve()));
      await tunnels.close();
      // Keep-alive connections of the driver's fetch would hold the server open.
      server.closeAllConnections();
      await stopped;
      await sql.close();
    },
  };
}
