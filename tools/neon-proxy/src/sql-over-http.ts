/**
 * The HTTP half of the local Neon proxy: Neon's SQL-over-HTTP protocol, as `neon()` from
 * `@neondatabase/serverless` 1.x (and so drizzle's `neon-http`) speaks it, answered from the real
 * Postgres through node-postgres.
 *
 * The driver POSTs JSON `{ query, params }`, or `{ queries: [{ query, params }, …] }` for a batch
 * that runs as one transaction, with the headers `Neon-Connection-String`,
 * `Neon-Raw-Text-Output: true` and `Neon-Array-Mode: true`, and for a batch optionally
 * `Neon-Batch-Isolation-Level`, `Neon-Batch-Read-Only` and `Neon-Batch-Deferrable`. It expects a
 * result `{ command, rowCount, fields, rows, rowAsArray }` (a batch: `{ results: [...] }`) whose
 * rows are arrays of Postgres text values: the driver parses them itself, choosing each column's
 * parser by the type OID in `fields[i].dataTypeID`, so the OIDs must be the server's. A failed
 * statement is an HTTP 400 carrying the server's error fields (`message`, `code`, `detail`, …),
 * which the driver turns into a `NeonDbError`.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import pg from 'pg';

/**
 * Told of an SQL-over-HTTP request once its body is read, with the text of its statements (one, or
 * a batch's in order); the function it returns, if any, is called once the answer is sent.
 */
export type SqlRequestObserver = (queries: string[]) => (() => void) | undefined;

export interface SqlOverHttpOptions {
  /** Milliseconds added to each request's round trip, half before it runs and half after. @defaultValue 0 */
  addedDelayMs?: number;
  onRequest?: SqlRequestObserver | undefined;
}

export interface SqlOverHttp {
  /** Answers one POST to the SQL endpoint. */
  handle(request: IncomingMessage, response: ServerResponse): Promise<void>;
  /** Ends the connections the endpoint opened. */
  close(): Promise<void>;
}

interface WireQuery {
  query: string;
  params?: unknown[];
}

/** Isolation levels as the driver names them, in SQL. */
const ISOLATION_LEVELS: Record<string, string> = {
  ReadUncommitted: 'read uncommitted',
  ReadCommitted: 'read committed',
  RepeatableRead: 'repeatable read',
  Serializable: 'serializable',
};

/** The fields of a Postgres error the driver copies onto its `NeonDbError`. */
const ERROR_FIELDS = [
  'severity',
  'code',
  'detail',
  'hint',
  'position',
  'internalPosition',
  'internalQuery',
  'where',
  'schema',
  'table',
  'column',
  'dataType',
  'constraint',
  'file',
  'line',
  'routine',
] as const;

/** Every value stays the server's text: parsing is the driver's job, as it is against Neon. */
const TEXT_AS_IS = { getTypeParser: () => (text: string) => text };

/** A request the endpoint refuses, answered with HTTP 400 and `message`, as Neon does. */
class BadRequest extends Error {}

/** Serves SQL over HTTP for databases on `allowedAddress` (`host:port`), and nothing else. */
export function sqlOverHttp(
  allowedAddress: string,
  { addedDelayMs = 0, onRequest }: SqlOverHttpOptions = {},
): SqlOverHttp {
  const pools = new Map<string, pg.Pool>();
  const halfDelayMs = addedDelayMs / 2;

  function poolFor(connectionString: string | undefined): pg.Pool {
    if (!connectionString) throw new BadRequest('missing Neon-Connection-String header');
    const url = new URL(connectionString);
    if (`${url.hostname}:${url.port || '5432'}` !== allowedAddress) {
      throw new BadRequest(`only ${allowedAddress} is reachable through this endpoint`);
    }
    let pool = pools.get(connectionString);
    if (!pool) {
      pool = new pg.Pool({ connectionString, max: 20 });
      // An idle connection the server ends (a test dropping its database) must not crash the process.
      pool.on('error', () => {});
      pools.set(connectionString, pool);
    }
    return pool;
  }

  return {
    async handle(request, response) {
      let answered: (() => void) | undefined;
      const reply = async (status: number, body: unknown) => {
        if (halfDelayMs > 0) await sleep(halfDelayMs);
        send(response, status, body);
      };
      try {
        if (
          request.headers['neon-raw-text-output'] !== 'true' ||
          request.headers['neon-array-mode'] !== 'true'
        ) {
          throw new BadRequest('this endpoint answers only in raw text array mode, as the driver asks');
        }
        const pool = poolFor(header(request, 'neon-connection-string'));
        const body = (await readJson(request)) as WireQuery | { queries: WireQuery[] };
        answered = onRequest?.('queries' in body ? body.queries.map((query) => query.query) : [body.query]);
        if (halfDelayMs > 0) await sleep(halfDelayMs);
        const answer =
          'queries' in body
            ? { results: await runBatch(pool, body.queries, beginStatement(request)) }
            : toWire(await pool.query(asRawText(body)));
        await reply(200, answer);
      } catch (error) {
        if (error instanceof BadRequest) await reply(400, { message: error.message });
        else if (error instanceof pg.DatabaseError) await reply(400, errorFields(error));
        else await reply(500, { message: String(error) });
      } finally {
        answered?.();
      }
    },
    async close() {
      await Promise.all([...pools.values()].map(endPool));
      pools.clear();
    },
  };
}

/** Runs a batch in one transaction on one connection: all its statements commit, or none. */
async function runBatch(pool: pg.Pool, queries: WireQuery[], begin: string) {
  const client = await pool.connect();
  let broken: Error | undefined;
  try {
    await client.query(begin);
    const results = [];
    for (const query of queries) results.push(toWire(await client.query(asRawText(query))));
    await client.query('commit');
    return results;
  } catch (error) {
    await client.query('rollback').catch((rollbackError: Error) => {
      broken = rollbackError;
    });
    throw error;
  } finally {
    client.release(broken);
  }
}

function beginStatement(request: IncomingMessage): string {
  const modes: string[] = [];
  const isolation = header(request, 'neon-batch-isolation-level');
  if (isolation !== undefined) {
    const level = ISOLATION_LEVELS[isolation];
    if (!level) throw new BadRequest(`unknown Neon-Batch-Isolation-Level ${isolation}`);
    modes.push(`isolation level ${level}`);
  }
  if (header(request, 'neon-batch-read-only') === 'true') modes.push('read only');
  if (header(request, 'neon-batch-deferrable') === 'true') modes.push('deferrable');
  return `begin ${modes.join(', ')}`;
}

/**
 * The query as node-postgres should run it: rows as arrays of text, and always through the
 * extended protocol, as Neon runs it, so a string holding several statements fails here as it
 * would there.
 */
function asRawText(query: WireQuery): pg.QueryArrayConfig {
  // Built apart from the return: `queryMode` is node-postgres's, but not yet in @types/pg.
  const config = {
    text: query.query,
    values: query.params ?? [],
    rowMode: 'array' as const,
    types: TEXT_AS_IS,
    queryMode: 'extended',
  };
  return config;
}

function toWire(result: pg.QueryArrayResult) {
  return {
    command: result.command,
    rowCount: result.rowCount,
    rows: result.rows,
    fields: result.fields,
    rowAsArray: true,
  };
}

function errorFields(error: pg.DatabaseError): Record<string, unknown> {
  const fields: Record<string, unknown> = { message: error.message };
  for (const name of ERROR_FIELDS) if (error[name] !== undefined) fields[name] = error[name];
  return fields;
}

function header(request: IncomingMessage, name: string): string | undefined {
  const value = request.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

async function readJson(request: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    throw new BadRequest('the body is not JSON');
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function send(response: ServerResponse, status: number, body: unknown): void {
  response.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
}

/** Ends `pool` and waits until every client has disconnected, ignoring errors of clients killed meanwhile. */
async function endPool(pool: pg.Pool): Promise<void> {
  // A client killed while it says goodbye reports through the pool; nothing is left to fail then.
  pool.on('error', () => {});
  let open = pool.totalCount;
  const disconnected = new Promise<void>((resolve) => {
    if (open === 0) resolve();
    pool.on('remove', () => {
      if (--open === 0) resolve();
    });
  });
  await pool.end();
  await disconnected;
}
