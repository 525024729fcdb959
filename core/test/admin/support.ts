/**
 * What the admin tests share: a migrated manager on a table of its own, with a clock the test
 * moves, and the admin app mounted at /admin of a parent Hono app, as a user would mount it.
 */
import { Hono } from 'hono';
import type { z } from 'zod';
import { type AdminOptions, createAdminApp } from '../../src/admin/index.js';
import {
  createTaskManager,
  defineTask,
  type Logger,
  silentLogger,
  type TaskDefinition,
  type TaskManager,
  type TaskManagerOptions,
} from '../../src/index.js';
import type { TestDatabase } from '../support/databases.js';

export const TOKEN = 'admin-token-for-tests-0123456789';
export const BEARER = { authorization: `Bearer ${TOKEN}` };
export const JSON_HEADERS = { ...BEARER, 'content-type': 'application/json' };

let tables = 0;

/** A clock the test moves by hand; every time the manager writes comes from it. */
export function manualClock(start = Date.parse('2030-01-01T12:00:00.000Z')) {
  let current = start;
  return {
    now: () => new Date(current),
    advance(ms: number) {
      current += ms;
    },
    iso: (offsetMs = 0) => new Date(current + offsetMs).toISOString(),
  };
}

export type Clock = ReturnType<typeof manualClock>;

/** `ok` succeeds, `boom` always fails, `later` is for tasks enqueued with a delay. */
export const tasks = {
  ok: defineTask({ key: 'ok', handler: async () => {} }),
  boom: defineTask({
    key: 'boom',
    handler: async () => {
      throw new Error('boom failed on purpose');
    },
  }),
  later: defineTask({ key: 'later', handler: async () => {} }),
};

export interface Fixture {
  manager: TaskManager<any>;
  clock: Clock;
  parent: Hono;
  /** A request to the admin app at /admin, with the given init (no credentials added). */
  raw(path: string, init?: RequestInit): Promise<Response>;
  /** A GET with the bearer token. */
  get(path: string): Promise<Response>;
  /** A JSON POST with the bearer token. */
  post(path: string, body: unknown): Promise<Response>;
  /** Enqueued in a transaction gta did not open, so it stays `initialized` until a scanner runs it. */
  enqueueForScanner(task: TaskDefinition<any, any, any>, arg?: unknown): Promise<number>;
}

export async function adminFixture(
  database: TestDatabase,
  {
    admin = { token: TOKEN },
    manager: managerOptions = {},
    logger = silentLogger,
    migrate = true,
  }: {
    admin?: AdminOptions;
    manager?: Partial<TaskManagerOptions>;
    logger?: Logger;
    migrate?: boolean;
  } = {},
): Promise<Fixture> {
  const clock = manualClock();
  const manager = createTaskManager({
    db: database.db,
    table: `admin_${process.pid}_${++tables}`,
    tasks: Object.values(tasks),
    logger,
    clock: clock.now,
    ...managerOptions,
  });
  if (migrate) await manager.migrate();
  const parent = new Hono();
  parent.route('/admin', createAdminApp(manager, admin));
  const raw = async (path: string, init?: RequestInit) => parent.request(`/admin${path}`, init);
  return {
    manager,
    clock,
    parent,
    raw,
    get: (path) => raw(path, { headers: BEARER }),
    post: (path, body) => raw(path, { method: 'POST', headers: JSON_HEADERS, body: JSON.stringify(body) }),
    enqueueForScanner: (task, arg = {}) =>
      database.db.transaction((tx: unknown) => manager.enqueue(task, arg, { tx: tx as never })),
  };
}

/** The body of a response that must have `status`, parsed with the documented `schema`. */
export async function expectBody<S extends z.ZodType>(
  response: Response,
  status: number,
  schema: S,
): Promise<z.output<S>> {
  const text = await response.text();
  if (response.status !== status) {
    throw new Error(`expected HTTP ${status}, got ${response.status}: ${text}`);
  }
  return schema.parse(JSON.parse(text));
}
