/**
 * The server of the schedules' browser test, in the test's own process: a manager on an
 * in-memory PGlite with two schedules and its runner, and the admin app (the built
 * `@gta/core/admin`) served over node:http at the root.
 *
 * - `heartbeat` fires every second on a task that succeeds;
 * - `nightly-report` fires at 03:00 in Paris on a task that always fails, so within the test it
 *   runs only when triggered.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { PGlite } from '@electric-sql/pglite';
import { createTaskManager, defineTask, silentLogger, type TaskManager } from '@gta/core';
import { createAdminApp } from '@gta/core/admin';
import { drizzle } from 'drizzle-orm/pglite';

export const REPORT_ERROR = 'report store offline';

export interface ScheduleServer {
  baseUrl: string;
  manager: TaskManager<any>;
  /** Stops the runner (running tasks finish), then closes the server and the database. */
  stop(): Promise<void>;
}

type Fetch = (request: Request) => Response | Promise<Response>;

/** One node:http request through a fetch handler, and its response back. */
async function serveOne(fetch: Fetch, req: IncomingMessage, res: ServerResponse, baseUrl: string) {
  const chunks: Uint8Array[] = [];
  for await (const chunk of req) chunks.push(chunk as Uint8Array);
  const headers = new Headers();
  for (const [name, value] of Object.entries(req.headers)) {
    for (const one of [value ?? []].flat()) headers.append(name, one);
  }
  const hasBody = req.method !== 'GET' && req.method !== 'HEAD';
  const response = await fetch(
    new Request(new URL(req.url ?? '/', baseUrl), {
      method: req.method ?? 'GET',
      headers,
      ...(hasBody ? { body: Buffer.concat(chunks) } : {}),
    }),
  );
  // Set-Cookie is the one header that cannot be joined with commas.
  const cookies = response.headers.getSetCookie();
  if (cookies.length > 0) res.setHeader('set-cookie', cookies);
  response.headers.forEach((value, name) => {
    if (name !== 'set-cookie') res.setHeader(name, value);
  });
  res.writeHead(response.status);
  res.end(Buffer.from(await response.arrayBuffer()));
}

export async function startScheduleServer({ adminToken }: { adminToken: string }): Promise<ScheduleServer> {
  const client = new PGlite();
  await client.waitReady;
  const heartbeat = defineTask({ key: 'heartbeat', handler: () => {} });
  const buildReport = defineTask({
    key: 'build-report',
    handler: () => {
      throw new Error(REPORT_ERROR);
    },
  });
  const manager = createTaskManager({
    db: drizzle({ client }),
    tasks: [heartbeat, buildReport],
    schedules: [
      { id: 'heartbeat', task: heartbeat, cron: '* * * * * *' },
      { id: 'nightly-report', task: buildReport, cron: '0 3 * * *', timezone: 'Europe/Paris' },
    ],
    logger: silentLogger,
    scanInterval: 500,
  });
  await manager.migrate();
  const admin = createAdminApp(manager, { token: adminToken });

  let baseUrl = '';
  const server = createServer((req, res) => {
    serveOne((request) => admin.fetch(request), req, res, baseUrl).catch((error: unknown) => {
      if (res.headersSent) res.destroy();
      else res.writeHead(500).end(String(error));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  manager.start();
  return {
    baseUrl,
    manager,
    stop: async () => {
      await manager.stop();
      server.closeAllConnections();
      await new Promise<void>((resolve, reject) =>
        server.close((error) => (error ? reject(error) : resolve())),
      );
      await client.close();
    },
  };
}
