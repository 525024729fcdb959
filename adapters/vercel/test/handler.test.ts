/**
 * @gta/vercel at the handler boundary, on the real Postgres: route handlers run inside Vercel's
 * request context (as `@vercel/functions` reads it) or outside any, and every assertion is read
 * from the task table.
 */
import { defineTask, MAINTENANCE_KEY, type TaskManager } from '@gta/core';
import { sql } from 'drizzle-orm';
import { Hono } from 'hono';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createPostgresDatabase,
  postgresAvailable,
  type TestDatabase,
} from '../../../core/test/support/databases.js';
import {
  eventually,
  gate,
  migratedManager,
  recordingLogger,
  sleep,
  statuses,
} from '../../../test/support/adapter-harness.js';
import { createWaitUntil, handle, handleCron } from '../src/index.js';
import { vercelRequest } from './support/vercel.js';

const hasPostgres = await postgresAvailable();
const SECRET = 'cron-secret-for-tests';

/** A route that records a signup and enqueues its welcome in one transaction, then may fail. */
function signupRoute(manager: TaskManager<any>, options: { failAfterEnqueue?: boolean } = {}) {
  return async (request: Request): Promise<Response> => {
    const { email } = (await request.json()) as { email: string };
    try {
      await manager.transaction(async (tx) => {
        await tx.execute(sql`insert into signups (email) values (${email})`);
        await manager.enqueue('welcome', { email }, { tx });
        if (options.failAfterEnqueue) throw new Error('payment declined');
      });
      return Response.json({ ok: true }, { status: 201 });
    } catch {
      return Response.json({ ok: false }, { status: 402 });
    }
  };
}

const post = (email: string) =>
  new Request('https://example.vercel.app/api/signup', { method: 'POST', body: JSON.stringify({ email }) });
const cronRequest = (authorization?: string) =>
  new Request('https://example.vercel.app/api/cron', {
    headers: { 'user-agent': 'vercel-cron/1.0', ...(authorization ? { authorization } : {}) },
  });

describe.skipIf(!hasPostgres)('@gta/vercel on Postgres', () => {
  let database: TestDatabase;
  const signupCount = async (email: string) =>
    (await database.query('select 1 from signups where email = $1', [email])).length;

  beforeAll(async () => {
    database = await createPostgresDatabase();
    await database.exec('create table signups (id serial primary key, email text not null unique)');
  });
  afterAll(() => database?.close());

  /** A manager whose commit hook goes through the adapter's waitUntil, logging to `entries`. */
  async function vercelManager(tasks: Parameters<typeof migratedManager>[1], options = {}) {
    const { logger, entries } = recordingLogger();
    const manager = await migratedManager(database, tasks, {
      logger,
      waitUntil: createWaitUntil({ logger }),
      ...options,
    });
    return { manager, entries };
  }

  /** Enqueues `count` tasks in a transaction gta did not open, so only a scanner runs them. */
  async function enqueueForScanner(manager: TaskManager<any>, key: string, count: number) {
    await database.db.transaction(async (tx: any) => {
      for (let index = 0; index < count; index++) await manager.enqueue(key, { index }, { tx });
    });
  }

  describe('commit hook', () => {
    it('a committed task runs after the response, through the request’s waitUntil', async () => {
      const started = gate();
      const release = gate();
      const welcome = defineTask({
        key: 'welcome',
        handler: async () => {
          started.open();
          await release.opened;
        },
      });
      const { manager, entries } = await vercelManager([welcome]);
      const request = vercelRequest();

      const response = await request.run(() => signupRoute(manager)(post('ada@example.com')));

      expect(response.status).toBe(201);
      expect(request.handed).toHaveLength(1);
      await started.opened;
      expect(await statuses(database, manager)).toEqual(['running']);
      release.open();
      await request.settle();
      expect(await statuses(database, manager)).toEqual(['succeeded']);
      expect(await signupCount('ada@example.com')).toBe(1);
      expect(entries.filter((entry) => entry.level !== 'info')).toEqual([]);
    });

    it('a rolled-back transaction runs nothing and hands nothing to waitUntil', async () => {
      let runs = 0;
      const welcome = defineTask({ key: 'welcome', handler: () => void runs++ });
      const { manager } = await vercelManager([welcome]);
      const request = vercelRequest();

      const response = await request.run(() =>
        signupRoute(manager, { failAfterEnqueue: true })(post('bob@example.com')),
      );

      expect(response.status).toBe(402);
      expect(request.handed).toEqual([]);
      expect(await statuses(database, manager)).toEqual([]);
      expect(await signupCount('bob@example.com')).toBe(0);
      expect(runs).toBe(0);
    });

    it('without a request context it says so, and the work still runs in the process', async () => {
      const welcome = defineTask({ key: 'welcome', handler: () => {} });
      const { manager, entries } = await vercelManager([welcome]);

      const response = await signupRoute(manager)(post('cy@example.com'));

      expect(response.status).toBe(201);
      expect(entries).toContainEqual(
        expect.objectContaining({
          level: 'warn',
          message: expect.stringContaining('no Vercel request context'),
        }),
      );
      await eventually(async () =>
        (await statuses(database, manager)).join() === 'succeeded' ? true : undefined,
      );
    });
  });

  describe('cron route', () => {
    it('refuses a missing, wrong or malformed secret with an empty 401, and runs nothing', async () => {
      let runs = 0;
      const job = defineTask({ key: 'job', handler: () => void runs++ });
      const { manager } = await vercelManager([job]);
      await enqueueForScanner(manager, 'job', 1);
      const cron = handleCron(manager, { secret: SECRET });

      for (const authorization of [
        undefined,
        'Bearer wrong',
        `Bearer ${SECRET}x`,
        `Bearer ${SECRET.slice(0, -1)}`,
        `bearer ${SECRET}`,
        SECRET,
        `Basic ${btoa(`user:${SECRET}`)}`,
      ]) {
        const response = await vercelRequest().run(() => cron(cronRequest(authorization)));
        expect(response.status, String(authorization)).toBe(401);
        expect(await response.text()).toBe('');
      }
      expect(await statuses(database, manager)).toEqual(['initialized']);
      const maintenance = await database.query(
        `select 1 from "${manager.options.table}" where task_key = $1`,
        [MAINTENANCE_KEY],
      );
      expect(maintenance).toEqual([]);
      expect(runs).toBe(0);
    });

    it('refuses every request while CRON_SECRET is unset, and logs why', async () => {
      const job = defineTask({ key: 'job', handler: () => {} });
      const { manager, entries } = await vercelManager([job]);
      await enqueueForScanner(manager, 'job', 1);
      const saved = process.env.CRON_SECRET;
      delete process.env.CRON_SECRET;
      try {
        const response = await handleCron(manager)(cronRequest('Bearer '));
        expect(response.status).toBe(401);
      } finally {
        if (saved !== undefined) process.env.CRON_SECRET = saved;
      }
      expect(entries).toContainEqual(
        expect.objectContaining({
          level: 'error',
          message: expect.stringContaining('CRON_SECRET is not set'),
        }),
      );
      expect(await statuses(database, manager)).toEqual(['initialized']);
    });

    it('with the secret from CRON_SECRET, runs the due tasks and answers with the report', async () => {
      const job = defineTask({ key: 'job', handler: () => {} });
      const { manager } = await vercelManager([job]);
      await enqueueForScanner(manager, 'job', 3);
      process.env.CRON_SECRET = SECRET;
      try {
        const request = vercelRequest();
        const response = await request.run(() => handleCron(manager)(cronRequest(`Bearer ${SECRET}`)));
        expect(response.status).toBe(200);
        expect(await response.json()).toMatchObject({ claimed: 3, maintenance: true });
        await request.settle();
      } finally {
        delete process.env.CRON_SECRET;
      }
      expect(await statuses(database, manager)).toEqual(['succeeded', 'succeeded', 'succeeded']);
    });

    it('stops claiming within the deadline getDeadline() reports; the rest stays initialized', async () => {
      const job = defineTask({ key: 'job', handler: () => sleep(100) });
      const { manager } = await vercelManager([job], { concurrency: 1, taskTimeout: 400 });
      await enqueueForScanner(manager, 'job', 40);
      // maxDuration says 300 s, but the runtime's deadline (2.5 s away) is the one that counts.
      const cron = handleCron(manager, { secret: SECRET, maxDuration: 300, safetyMarginMs: 500 });
      const request = vercelRequest({ deadlineInMs: 2500 });

      const response = await request.run(() => cron(cronRequest(`Bearer ${SECRET}`)));
      const report = (await response.json()) as { claimed: number };
      await request.settle();

      const after = await statuses(database, manager);
      expect(report.claimed).toBeGreaterThan(0);
      expect(report.claimed).toBeLessThan(40);
      expect(after.filter((status) => status === 'succeeded')).toHaveLength(report.claimed);
      expect(after.filter((status) => status === 'initialized')).toHaveLength(40 - report.claimed);
    });

    it('without a request context, sizes the tick from maxDuration and awaits its tasks', async () => {
      const job = defineTask({ key: 'job', handler: () => sleep(100) });
      const { manager } = await vercelManager([job], { concurrency: 1, taskTimeout: 400 });
      await enqueueForScanner(manager, 'job', 40);
      const cron = handleCron(manager, { secret: SECRET, maxDuration: 2.5, safetyMarginMs: 500 });

      const response = await cron(cronRequest(`Bearer ${SECRET}`));
      const report = (await response.json()) as { claimed: number; succeeded: number };

      const after = await statuses(database, manager);
      expect(report.claimed).toBeGreaterThan(0);
      expect(report.claimed).toBeLessThan(40);
      expect(report.succeeded).toBe(report.claimed);
      expect(after.filter((status) => status === 'succeeded')).toHaveLength(report.claimed);
      expect(after.filter((status) => status === 'initialized')).toHaveLength(40 - report.claimed);
    });

    it('claims no task whose timeout outlasts the function, and reports it instead', async () => {
      const long = defineTask({ key: 'long', timeoutMs: 60_000, handler: () => new Promise<void>(() => {}) });
      const hung = defineTask({
        key: 'hung',
        timeoutMs: 300,
        retryTimes: 1,
        handler: () => new Promise<void>(() => {}),
      });
      const { manager, entries } = await vercelManager([long, hung]);
      await enqueueForScanner(manager, 'long', 1);
      await enqueueForScanner(manager, 'hung', 1);
      const deadline = Date.now() + 1500;
      const request = vercelRequest({ deadlineInMs: 1500 });

      const response = await request.run(() =>
        handleCron(manager, { secret: SECRET, safetyMarginMs: 500 })(cronRequest(`Bearer ${SECRET}`)),
      );
      expect(await response.json()).toMatchObject({ claimed: 1, abnormal: 1 });
      await request.settle();

      expect(Date.now()).toBeLessThan(deadline);
      // The hung task fits: its own timeout aborts it and it is retried; the long one is left alone.
      const rows = await database.query<{
        task_key: string;
        status: string;
        attempts: number;
        last_error: string | null;
      }>(
        `select task_key, status, attempts, last_error from "${manager.options.table}" where task_key in ('long', 'hung') order by id`,
      );
      expect(rows).toMatchObject([
        { task_key: 'long', status: 'initialized', attempts: 0, last_error: null },
        { task_key: 'hung', status: 'initialized', attempts: 1 },
      ]);
      expect(rows[1]?.last_error).toContain('timed out after 300 ms');
      expect(entries).toContainEqual(
        expect.objectContaining({
          level: 'warn',
          fields: expect.objectContaining({ reason: 'exceeds-tick-window' }),
        }),
      );
    });
  });

  it('handle serves the app, and the cron path with the cron route', async () => {
    const job = defineTask({ key: 'job', handler: () => {} });
    const { manager } = await vercelManager([job]);
    await enqueueForScanner(manager, 'job', 2);
    const app = new Hono().get('/api/hello', (c) => c.text('hello'));
    const fetch = handle(manager, app, { secret: SECRET });

    const hello = await vercelRequest().run(() => fetch(new Request('https://example.vercel.app/api/hello')));
    expect(await hello.text()).toBe('hello');
    expect(await statuses(database, manager)).toEqual(['initialized', 'initialized']);

    const refused = await vercelRequest().run(() => fetch(cronRequest()));
    expect(refused.status).toBe(401);
    const request = vercelRequest();
    const ticked = await request.run(() => fetch(cronRequest(`Bearer ${SECRET}`)));
    expect(await ticked.json()).toMatchObject({ claimed: 2 });
    await request.settle();
    expect(await statuses(database, manager)).toEqual(['succeeded', 'succeeded']);
  });
});
