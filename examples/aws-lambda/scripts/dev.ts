/**
 * `npm run dev`: the function's one entry (`src/handler.ts`) on this machine, invoked as Lambda
 * invokes it: every HTTP request becomes the API Gateway HTTP API (payload 2.0) event the stack's
 * API would send, every invocation gets a Lambda context with template.yaml's timeout and memory,
 * and the EventBridge rule's scheduled event comes every minute, or on `POST /__tick`. The
 * database is the Postgres at DATABASE_URL or, without it, an embedded PGlite in memory; either is
 * migrated on start. It needs no AWS account and no network.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { PGlite } from '@electric-sql/pglite';
import { serve } from '@hono/node-server';
import type {
  APIGatewayProxyEventV2,
  APIGatewayProxyStructuredResultV2,
  Context,
  ScheduledEvent,
} from 'aws-lambda';
import { drizzle } from 'drizzle-orm/pglite';
import type { LambdaEvent } from 'hono/aws-lambda';
import { useLocalDatabase } from '../src/local-database.js';

// The loopback interface only: the admin token below is printed in the README.
const HOSTNAME = '127.0.0.1';
const DEFAULT_PORT = 3000;
/** What the function reads from the environment, when it is not set: a local stand-in, printed on start. */
const LOCAL_DEFAULTS = { ADMIN_TOKEN: 'local-admin-token-0123456789' };
/** The path that sends the function the scheduled event by hand; API Gateway would pass it to the app. */
const TICK_PATH = '/__tick';
/** template.yaml's rule: `rate(1 minute)`. */
const TICK_INTERVAL_MS = 60_000;
// Stand-ins for the names and numbers of a deployed stack, in the shapes Lambda gives them.
const FUNCTION_NAME = 'GtaFunction';
const REGION = 'us-east-1';
const ACCOUNT_ID = '123456789012';
const API_ID = 'local';
/** Text bodies, which an HTTP API passes as they are; it passes every other body base64-encoded. */
const TEXT_CONTENT = /^(text\/|application\/(json|xml|javascript)\b|application\/[\w.+-]+\+(json|xml)\b)/i;

const root = new URL('..', import.meta.url);
const port = Number(process.env.PORT ?? DEFAULT_PORT);
if (!Number.isInteger(port) || port < 0 || port > 65_535) {
  console.error(`PORT is not a port number: run \`PORT=3000 npm run dev\` (got ${process.env.PORT})`);
  process.exit(1);
}

const defaulted = Object.entries(LOCAL_DEFAULTS).filter(([name]) => !process.env[name]);
for (const [name, value] of defaulted) process.env[name] = value;

const template = await readFile(new URL('template.yaml', root), 'utf8');
const timeoutSeconds = templateNumber('Timeout');
const memoryMb = templateNumber('MemorySize');

const database = await openDatabase();
const { migrate } = await import('../src/migrate.js');
try {
  await migrate();
} catch (error) {
  console.error(`migrate failed: ${firstLine(error)}`);
  await database.close();
  process.exit(1);
}
const { handler } = await import('../src/handler.js');

/** Invocations in progress: a stop waits for them. */
const inFlight = new Set<Promise<unknown>>();
function invoke(event: APIGatewayProxyEventV2 | ScheduledEvent): Promise<unknown> {
  // Hono declares API Gateway's event more strictly than API Gateway sends it (an `authorizer`
  // even without one, a `body` even on a GET), so the real shape goes in as Hono's type.
  const invocation = handler(event as unknown as LambdaEvent, lambdaContext());
  const settled = invocation.catch(() => undefined);
  inFlight.add(settled);
  void settled.finally(() => inFlight.delete(settled));
  return invocation;
}

const server = serve({ fetch: answer, hostname: HOSTNAME, port, overrideGlobalObjects: false }, (info) => {
  const url = `http://${HOSTNAME}:${info.port}`;
  const secrets = defaulted.map(
    ([name, value]) => `${name}=${value} (a local default; set ${name} to choose it)`,
  );
  // One write, so that whoever reads the output gets the whole banner at once.
  console.log(
    [
      `listening on ${url} (database: ${database.label})`,
      '  POST /signup → the Hono app of src/app.ts',
      '  GET, POST /admin/... → the admin app, mounted there by src/app.ts',
      `  POST ${TICK_PATH} → the EventBridge rule's scheduled event, which also comes every minute`,
      ...secrets,
      `the dashboard: ${url}/admin`,
    ].join('\n'),
  );
});
server.on('error', (error: NodeJS.ErrnoException) => {
  console.error(
    error.code === 'EADDRINUSE'
      ? `port ${port} is in use: run \`PORT=<another port> npm run dev\``
      : `the server failed: ${error.message}`,
  );
  void stop(1);
});
const ticker = setInterval(() => void invoke(scheduledEvent()).catch(() => undefined), TICK_INTERVAL_MS);
process.on('SIGINT', () => void stop(0));
process.on('SIGTERM', () => void stop(0));

async function answer(
  request: Request,
  bindings: { incoming: { socket: { remoteAddress?: string | undefined } } },
) {
  const started = Date.now();
  const { pathname } = new URL(request.url);
  const response = await (request.method === 'POST' && pathname === TICK_PATH
    ? tick()
    : http(request, bindings.incoming.socket.remoteAddress ?? HOSTNAME));
  console.log(`${request.method} ${pathname} ${response.status} ${Date.now() - started} ms`);
  return response;
}

async function tick(): Promise<Response> {
  try {
    return Response.json(await invoke(scheduledEvent()));
  } catch (error) {
    // The adapter has logged why; Lambda would record the invocation as failed.
    return Response.json({ errorMessage: firstLine(error) }, { status: 500 });
  }
}

async function http(request: Request, sourceIp: string): Promise<Response> {
  let result: APIGatewayProxyStructuredResultV2;
  try {
    result = (await invoke(await httpApiEvent(request, sourceIp))) as APIGatewayProxyStructuredResultV2;
  } catch (error) {
    console.error('the handler threw:', error);
    // What API Gateway answers when the function fails.
    return Response.json({ message: 'Internal Server Error' }, { status: 500 });
  }
  const headers = new Headers();
  for (const [name, value] of Object.entries(result.headers ?? {})) headers.set(name, String(value));
  for (const cookie of result.cookies ?? []) headers.append('set-cookie', cookie);
  const status = result.statusCode ?? 200;
  const empty = result.body === undefined || status === 204 || status === 304;
  const body = empty ? null : result.isBase64Encoded ? Buffer.from(result.body!, 'base64') : result.body!;
  return new Response(body, { status, headers });
}

/** The event an HTTP API's `$default` route sends for `request` (payload format 2.0). */
async function httpApiEvent(request: Request, sourceIp: string): Promise<APIGatewayProxyEventV2> {
  const url = new URL(request.url);
  const now = new Date();
  const headers: Record<string, string> = {};
  // Headers joins repeated headers with commas, as API Gateway does.
  request.headers.forEach((value, name) => {
    headers[name] = value;
  });
  // API Gateway hands cookies over apart, and adds the forwarding headers of the client it saw.
  const cookies = headers.cookie?.split(/;\s*/).filter(Boolean);
  delete headers.cookie;
  Object.assign(headers, {
    'x-forwarded-for': sourceIp,
    'x-forwarded-port': url.port,
    'x-forwarded-proto': url.protocol.slice(0, -1),
  });
  const query: Record<string, string> = {};
  for (const name of new Set(url.searchParams.keys())) query[name] = url.searchParams.getAll(name).join(',');
  const body = Buffer.from(await request.arrayBuffer());
  const text = TEXT_CONTENT.test(headers['content-type'] ?? '');
  return {
    version: '2.0',
    routeKey: '$default',
    rawPath: url.pathname,
    rawQueryString: url.search.slice(1),
    ...(cookies?.length ? { cookies } : {}),
    headers,
    ...(url.search ? { queryStringParameters: query } : {}),
    requestContext: {
      accountId: ACCOUNT_ID,
      apiId: API_ID,
      domainName: url.host,
      domainPrefix: url.hostname.split('.')[0]!,
      http: {
        method: request.method,
        path: url.pathname,
        protocol: 'HTTP/1.1',
        sourceIp,
        userAgent: headers['user-agent'] ?? '',
      },
      requestId: randomBytes(10).toString('base64'),
      routeKey: '$default',
      stage: '$default',
      time: accessLogTime(now),
      timeEpoch: now.getTime(),
    },
    ...(body.length > 0 ? { body: text ? body.toString('utf8') : body.toString('base64') } : {}),
    isBase64Encoded: body.length > 0 && !text,
  };
}

/** What template.yaml's `rate(1 minute)` rule sends. */
function scheduledEvent(): ScheduledEvent {
  return {
    version: '0',
    id: randomUUID(),
    'detail-type': 'Scheduled Event',
    source: 'aws.events',
    account: ACCOUNT_ID,
    time: new Date().toISOString().replace(/\.\d{3}/, ''),
    region: REGION,
    resources: [`arn:aws:events:${REGION}:${ACCOUNT_ID}:rule/${FUNCTION_NAME}Tick`],
    detail: {},
  };
}

/** The context of one invocation of a function with template.yaml's timeout and memory. */
function lambdaContext(): Context {
  const deadline = Date.now() + timeoutSeconds * 1000;
  const callbackStyle = () => {
    throw new Error('async handlers do not complete through the context');
  };
  const day = new Date().toISOString().slice(0, 10).replaceAll('-', '/');
  return {
    callbackWaitsForEmptyEventLoop: true,
    functionName: FUNCTION_NAME,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:${REGION}:${ACCOUNT_ID}:function:${FUNCTION_NAME}`,
    memoryLimitInMB: String(memoryMb),
    awsRequestId: randomUUID(),
    logGroupName: `/aws/lambda/${FUNCTION_NAME}`,
    logStreamName: `${day}/[$LATEST]${randomBytes(16).toString('hex')}`,
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
    done: callbackStyle,
    fail: callbackStyle,
    succeed: callbackStyle,
  };
}

/** `02/Dec/2026:15:36:45 +0000`, as `requestContext.time` gives it. */
function accessLogTime(date: Date): string {
  const [, day, month, year, time] = date.toUTCString().split(' ');
  return `${day}/${month}/${year}:${time} +0000`;
}

/** A number template.yaml gives the function (`Timeout: 120`), so invocations get what deployed ones get. */
function templateNumber(property: string): number {
  const match = new RegExp(`^\\s+${property}:\\s*(\\d+)\\s*(#.*)?$`, 'm').exec(template);
  if (!match) throw new Error(`template.yaml gives the function no ${property}`);
  return Number(match[1]);
}

async function openDatabase(): Promise<{ label: string; close(): Promise<void> }> {
  if (process.env.DATABASE_URL) {
    const { pool } = await import('../src/db.js');
    return { label: 'the Postgres at DATABASE_URL', close: () => pool.end() };
  }
  const client = new PGlite();
  await client.waitReady;
  useLocalDatabase(drizzle(client));
  return {
    label: 'PGlite in memory, gone when this stops; set DATABASE_URL to use a Postgres',
    close: () => client.close(),
  };
}

/** A failed query wraps the driver's error, whose first line says what went wrong (refused, unknown user, …). */
function firstLine(error: unknown): string {
  const reason =
    error instanceof Error ? (error.cause instanceof Error ? error.cause : error).message : String(error);
  return reason.split('\n')[0]!;
}

let stopping: Promise<void> | undefined;
/** Stops taking requests and ticks, lets the invocations in progress finish, then closes the database. */
function stop(code: number): Promise<void> {
  stopping ??= (async () => {
    clearInterval(ticker);
    server.close();
    while (inFlight.size > 0) await Promise.allSettled([...inFlight]);
    await database.close();
    console.log('stopped');
    process.exit(code);
  })();
  return stopping;
}
