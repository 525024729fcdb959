/**
 * `npm run dev`: the functions under api/ on this machine, routed as Vercel routes them (each file
 * at its own path, then the rewrites of vercel.json), each request run inside the request context
 * that `@vercel/functions` reads, so `waitUntil` carries the post-commit work past the response as
 * it does on Vercel. The database is the Postgres at DATABASE_URL or, without it, an embedded PGlite
 * in memory; either is migrated on start. It needs no Vercel account and no network.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { readdir, readFile } from 'node:fs/promises';
import { PGlite } from '@electric-sql/pglite';
import { DEFAULT_MAX_DURATION_SECONDS } from '@gta/vercel';
import { serve } from '@hono/node-server';
import { drizzle } from 'drizzle-orm/pglite';
import { useLocalDatabase } from '../src/local-database.js';

// The loopback interface only: the secrets below are printed in the README.
const HOSTNAME = '127.0.0.1';
const DEFAULT_PORT = 3000;
/** What the functions read from the environment, when it is not set: local stand-ins, printed on start. */
const LOCAL_DEFAULTS = {
  ADMIN_TOKEN: 'local-admin-token-0123456789',
  CRON_SECRET: 'local-cron-secret-0123456789',
};
const HTTP_METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'];

type Handler = (request: Request) => Response | Promise<Response>;

interface VercelFunction {
  file: string;
  methods: Map<string, Handler>;
  maxDurationSeconds: number;
}

/** The parts of vercel.json this server follows. */
interface VercelConfig {
  functions?: Record<string, { maxDuration?: number }>;
  rewrites?: { source: string; destination: string }[];
}

/** What Vercel's runtime answers for the request in progress, as far as `@vercel/functions` reads it. */
interface RequestContext {
  waitUntil(promise: Promise<unknown>): void;
  deadline: string;
}

const root = new URL('..', import.meta.url);
const port = Number(process.env.PORT ?? DEFAULT_PORT);
if (!Number.isInteger(port) || port < 0 || port > 65_535) {
  console.error(`PORT is not a port number: run \`PORT=3000 npm run dev\` (got ${process.env.PORT})`);
  process.exit(1);
}

const defaulted = Object.entries(LOCAL_DEFAULTS).filter(([name]) => !process.env[name]);
for (const [name, value] of defaulted) process.env[name] = value;

const database = await openDatabase();
const { migrate } = await import('../src/migrate.js');
try {
  await migrate();
} catch (error) {
  console.error(`migrate failed: ${firstLine(error)}`);
  await database.close();
  process.exit(1);
}

const config = JSON.parse(await readFile(new URL('vercel.json', root), 'utf8')) as VercelConfig;
const functions = await loadFunctions(config);
const rewrites = (config.rewrites ?? []).map((rewrite) => ({
  ...rewrite,
  pattern: sourcePattern(rewrite.source),
}));

// Vercel's runtime installs this holder, and `@vercel/functions` asks it for the current request's
// context: `waitUntil`, and the deadline `getDeadline()` reports.
const requests = new AsyncLocalStorage<RequestContext>();
(globalThis as Record<symbol, unknown>)[Symbol.for('@vercel/request-context')] = {
  get: () => requests.getStore(),
};

/** Requests in progress and work handed to `waitUntil`: a stop waits for them. */
const inFlight = new Set<Promise<unknown>>();
function track(promise: Promise<unknown>): void {
  const settled = promise.then(
    () => undefined,
    (error: unknown) => console.error('work handed to waitUntil failed:', error),
  );
  inFlight.add(settled);
  void settled.finally(() => inFlight.delete(settled));
}

const server = serve({ fetch: invoke, hostname: HOSTNAME, port, overrideGlobalObjects: false }, (info) => {
  const url = `http://${HOSTNAME}:${info.port}`;
  const methods = (fn: VercelFunction) => [...fn.methods.keys()].join(', ');
  const served = [...functions].map(([path, fn]) => `  ${methods(fn)} ${path} → ${fn.file}`);
  const rewritten = rewrites.flatMap(({ source, destination }) => {
    const fn = functions.get(destination);
    return fn ? [`  ${methods(fn)} ${source} → ${fn.file} (vercel.json rewrite)`] : [];
  });
  const secrets = defaulted.map(
    ([name, value]) => `${name}=${value} (a local default; set ${name} to choose it)`,
  );
  // One write, so that whoever reads the output gets the whole banner at once.
  console.log(
    [
      `listening on ${url} (database: ${database.label})`,
      ...served,
      ...rewritten,
      ...secrets,
      `the dashboard: ${url}/api/admin`,
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
process.on('SIGINT', () => void stop(0));
process.on('SIGTERM', () => void stop(0));

async function invoke(request: Request): Promise<Response> {
  const started = Date.now();
  const { pathname } = new URL(request.url);
  const response = run(request, route(pathname));
  track(response);
  const answered = await response;
  console.log(`${request.method} ${pathname} ${answered.status} ${Date.now() - started} ms`);
  return answered;
}

async function run(request: Request, fn: VercelFunction | undefined): Promise<Response> {
  if (!fn) return new Response('The page could not be found.\n\nNOT_FOUND\n', { status: 404 });
  const handler = fn.methods.get(request.method);
  if (!handler) {
    return new Response(null, { status: 405, headers: { allow: [...fn.methods.keys()].join(', ') } });
  }
  const context: RequestContext = {
    waitUntil: track,
    deadline: new Date(Date.now() + fn.maxDurationSeconds * 1000).toISOString(),
  };
  try {
    return await requests.run(context, () => handler(request));
  } catch (error) {
    console.error(`${fn.file} threw:`, error);
    return new Response('A server error has occurred\n\nFUNCTION_INVOCATION_FAILED\n', { status: 500 });
  }
}

/** The function serving `pathname`: a file's own path first, then the first rewrite that matches, as on Vercel. */
function route(pathname: string): VercelFunction | undefined {
  const direct = functions.get(pathname);
  if (direct) return direct;
  const rewrite = rewrites.find(({ pattern }) => pattern.test(pathname));
  // The request keeps its own URL, as on Vercel: the admin app routes on the path it was sent to.
  return rewrite && functions.get(rewrite.destination);
}

/** Each api/<name>.ts, by the path Vercel serves it at (/api/<name>), with the methods it exports. */
async function loadFunctions(vercel: VercelConfig): Promise<Map<string, VercelFunction>> {
  const files = (await readdir(new URL('api/', root))).filter((name) => name.endsWith('.ts')).sort();
  const loaded = new Map<string, VercelFunction>();
  for (const name of files) {
    const file = `api/${name}`;
    const module = (await import(new URL(file, root).href)) as Record<string, unknown>;
    const methods = new Map<string, Handler>();
    for (const method of HTTP_METHODS) {
      const handler = module[method];
      if (typeof handler === 'function') methods.set(method, handler as Handler);
    }
    const maxDurationSeconds = vercel.functions?.[file]?.maxDuration ?? DEFAULT_MAX_DURATION_SECONDS;
    loaded.set(`/api/${name.slice(0, -'.ts'.length)}`, { file, methods, maxDurationSeconds });
  }
  return loaded;
}

/**
 * A rewrite's source as vercel.json writes it (path-to-regexp): `:name` is one path segment,
 * `:name?` at most one, `:name*` any number and `:name+` at least one. Destinations are taken as
 * plain paths.
 */
function sourcePattern(source: string): RegExp {
  const segments = { '': '/[^/]+', '?': '(?:/[^/]+)?', '*': '(?:/[^/]+)*', '+': '(?:/[^/]+)+' };
  const parts = source.split(/\/:\w+([?*+]?)/);
  // split() alternates the literal text with each parameter's modifier.
  const pattern = parts
    .map((part, index) =>
      index % 2 === 0 ? part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&') : segments[part as keyof typeof segments],
    )
    .join('');
  return new RegExp(`^${pattern}/?$`);
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
/** Stops taking requests, lets the ones in progress and their `waitUntil` work finish, then closes the database. */
function stop(code: number): Promise<void> {
  stopping ??= (async () => {
    server.close();
    while (inFlight.size > 0) await Promise.allSettled([...inFlight]);
    await database.close();
    console.log('stopped');
    process.exit(code);
  })();
  return stopping;
}
