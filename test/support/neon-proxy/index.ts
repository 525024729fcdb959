/**
 * A local stand-in for Neon's edge, so the real `@neondatabase/serverless` code runs against the
 * local Postgres: one HTTP server on 127.0.0.1 that tunnels the driver's WebSockets to Postgres
 * (the `Pool`/`Client` path, drizzle's `neon-serverless`) and answers its SQL-over-HTTP requests
 * (the `neon()` path, drizzle's `neon-http`). It reaches the one Postgres server it is given, and
 * nothing else.
 *
 * Not tied to a test runner or to Node's copy of the driver: a workerd test can start it and point
 * the bundled driver's `neonConfig` at `wsProxyUrlFor` and `httpEndpoint`.
 * @example
 * const proxy = await neonProxy.start({ postgresUrl: 'postgres://postgres@127.0.0.1:5432/test' });
 * neonConfig.wsProxy = proxy.wsProxyUrlFor;
 * neonConfig.fetchEndpoint = proxy.httpEndpoint;
 * // … run the driver …
 * await proxy.close();
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { type SqlOverHttp, sqlOverHttp } from './sql-over-http.js';
import { type WebSocketTunnels, webSocketTunnels } from './websocket-tunnel.js';

export interface NeonProxyOptions {
  /** The Postgres server to reach (user, password and database come from each connection string). */
  postgresUrl: string;
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

export async function start({ postgresUrl }: NeonProxyOptions): Promise<NeonProxy> {
  const target = new URL(postgresUrl);
  const allowedAddress = `${target.hostname}:${target.port || '5432'}`;
  const tunnels: WebSocketTunnels = webSocketTunnels(allowedAddress);
  const sql: SqlOverHttp = sqlOverHttp(allowedAddress);
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
