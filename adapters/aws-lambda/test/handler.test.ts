/**
 * @gta/aws-lambda at the handler boundary, on the real Postgres: handlers get API Gateway and
 * EventBridge events and a Lambda context whose remaining time shrinks with the clock, and every
 * assertion is read from the task table.
 */
import { defineTask, type TaskManager } from '@gta/core';
import type {
  APIGatewayProxyEventV2,
  APIGatewayProxyHandlerV2,
  APIGatewayProxyResultV2,
  Context,
} from 'aws-lambda';
import { sql } from 'drizzle-orm';
import { Hono } from 'hono';
import { handle as honoHandle, type LambdaEvent } from 'hono/aws-lambda';
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
import { httpEvent, lambdaContext, scheduledEvent } from './support/lambda.js';

const hasPostgres = await postgresAvailable();

/** Records a signup and enqueues `count` welcomes in one transaction, then may fail. */
async function signUp(manager: TaskManager<any>, email: string, options: { count?: number; fail?: boolean }) {
  await manager.transaction(async (tx) => {
    await tx.execute(sql`insert into signups (email) values (${email})`);
    for (let index = 0; index < (options.count ?? 1); index++)
      await manager.enqueue('welcome', { email }, { tx });
    if (options.fail) throw new Error('payment declined');
  });
}

/** A plain async Lambda handler for API Gateway requests. */
function signupHandler(manager: TaskManager<any>, options: { count?: number; fail?: boolean } = {}) {
  return async (event: APIGatewayProxyEventV2, _context: Context): Promise<APIGatewayProxyResultV2> => {
    const { email } = JSON.parse(event.body ?? '{}') as { email: string };
    try {
      await signUp(manager, email, options);
      return { statusCode: 201, body: JSON.stringify({ ok: true }) };
    } catch {
      return { statusCode: 402, body: JSON.stringify({ ok: false }) };
    }
  };
}

describe.skipIf(!hasPostgres)('@gta/aws-lambda on Postgres', () => {
  let database: TestDatabase;
  const signupCount = async (email: string) =>
    (await database.query('select 1 from signups where email = $1', [email])).length;

  beforeAll(async () => {
    database = await createPostgresDatabase();
    await database.exec('create table signups (id serial primary key, email text not null unique)');
  });
  afterAll(() => database?.close());

  async function lambdaManager(tasks: Parameters<typeof migratedManager>[1], options = {}) {
    const { logger, entries } = recordingLogger();
    // Task timeouts that fit the short invocations these tests give: a tick claims no task whose
    // timeout outlasts its invocation.
    const manager = await migratedManager(database, tasks, {
      logger,
      waitUntil: createWaitUntil({ logger }),
      taskTimeout: 1000,
      ...options,
    });
    return { manager, entries };
  }

  async function enqueueForScanner(manager: TaskManager<any>, key: string, count: number) {
    await database.db.transaction(async (tx: any) => {
      for (let index = 0; index < count; index++) await manager.enqueue(key, { index }, { tx });
    });
  }

  describe('HTTP', () => {
    it('runs a committed task after the commit, and returns only once it finished', async () => {
      const seen: number[] = [];
      const welcome = defineTask({
        key: 'welcome',
        handler: async ({ email }: { email: string }) => {
          await sleep(50);
          seen.push(await signupCount(email));
        },
      });
      const { manager, entries } = await lambdaManager([welcome]);
      const handler = handle(manager, signupHandler(manager));

      const result = await handler(
        httpEvent('POST', '/signup', { email: 'ada@example.com' }),
        lambdaContext(10_000),
      );

      expect(result).toMatchObject({ statusCode: 201 });
      expect(seen).toEqual([1]);
      expect(await statuses(database, manager)).toEqual(['succeeded']);
      expect(entries.filter((entry) => entry.level !== 'info')).toEqual([]);
    });

    it('wraps Hono’s hono/aws-lambda handle the same way', async () => {
      const welcome = defineTask({ key: 'welcome', handler: () => sleep(50) });
      const { manager } = await lambdaManager([welcome]);
      const app = new Hono().post('/signup', async (c) => {
        const { email } = await c.req.json<{ email: string }>();
        await signUp(manager, email, {});
        return c.json({ ok: true }, 201);
      });
      const handler = handle(manager, honoHandle(app));

      // The same API Gateway event. Hono declares it more strictly than API Gateway sends it
      // (`authorizer` and `authentication` required even without an authorizer), hence the cast.
      const event = httpEvent('POST', '/signup', { email: 'hono@example.com' }) as unknown as LambdaEvent;

      const result = await handler(event, lambdaContext(10_000));

      expect(result).toMatchObject({ statusCode: 201, body: '{"ok":true}' });
      expect(await statuses(database, manager)).toEqual(['succeeded']);
    });

    it('runs nothing when the transaction rolls back', async () => {
      let runs = 0;
      const welcome = defineTask({ key: 'welcome', handler: () => void runs++ });
      const { manager } = await lambdaManager([welcome]);
      // Typed as aws-lambda's `Handler` (with its callback parameter), as many handlers are.
      const signup: APIGatewayProxyHandlerV2 = signupHandler(manager, { fail: true });
      const handler = handle(manager, signup);

      const result = await handler(
        httpEvent('POST', '/signup', { email: 'bob@example.com' }),
        lambdaContext(10_000),
      );

      expect(result).toMatchObject({ statusCode: 402 });
      expect(await statuses(database, manager)).toEqual([]);
      expect(await signupCount('bob@example.com')).toBe(0);
      expect(runs).toBe(0);
    });

    it('answers at waitMs; what is unfinished stays in the table and the next tick runs it', async () => {
      const started = gate();
      const release = gate();
      const welcome = defineTask({
        key: 'welcome',
        handler: async () => {
          started.open();
          await release.opened;
        },
      });
      const { manager, entries } = await lambdaManager([welcome], { concurrency: 1 });
      const handler = handle(manager, signupHandler(manager, { count: 2 }), { waitMs: 200 });

      const result = await handler(
        httpEvent('POST', '/signup', { email: 'cy@example.com' }),
        lambdaContext(10_000),
      );

      expect(result).toMatchObject({ statusCode: 201 });
      await started.opened;
      expect(await statuses(database, manager)).toEqual(['running', 'initialized']);
      expect(entries).toContainEqual(
        expect.objectContaining({
          level: 'warn',
          fields: expect.objectContaining({ unfinished: 1, boundMs: 200 }),
        }),
      );
      release.open();
      await eventually(async () =>
        (await statuses(database, manager))[0] === 'succeeded' ? true : undefined,
      );

      const report = await handler(scheduledEvent(), lambdaContext(10_000));

      expect(report).toMatchObject({ claimed: 1, succeeded: 1 });
      expect(await statuses(database, manager)).toEqual(['succeeded', 'succeeded']);
    });

    it('never waits past the safety margin before the function’s timeout', async () => {
      const release = gate();
      const welcome = defineTask({ key: 'welcome', handler: () => release.opened });
      const { manager, entries } = await lambdaManager([welcome]);
      const handler = handle(manager, signupHandler(manager), { safetyMarginMs: 700 });
      const context = lambdaContext(1500);

      const result = await handler(httpEvent('POST', '/signup', { email: 'dee@example.com' }), context);

      expect(result).toMatchObject({ statusCode: 201 });
      expect(context.getRemainingTimeInMillis()).toBeGreaterThan(0);
      expect(await statuses(database, manager)).toEqual(['running']);
      expect(entries.some((entry) => entry.level === 'warn' && entry.fields.unfinished === 1)).toBe(true);
      release.open();
      await eventually(async () =>
        (await statuses(database, manager))[0] === 'succeeded' ? true : undefined,
      );
    });

    it('outside an invocation, says the work is left to the process and the scanner, and it still runs', async () => {
      const welcome = defineTask({ key: 'welcome', handler: () => {} });
      const { manager, entries } = await lambdaManager([welcome]);

      await signUp(manager, 'eve@example.com', {});

      expect(entries).toContainEqual(
        expect.objectContaining({ level: 'warn', message: expect.stringContaining('no Lambda invocation') }),
      );
      await eventually(async () =>
        (await statuses(database, manager))[0] === 'succeeded' ? true : undefined,
      );
    });
  });

  describe('schedule', () => {
    it('a scheduled event drains the due tasks', async () => {
      const job = defineTask({ key: 'job', handler: () => sleep(10) });
      const { manager } = await lambdaManager([job]);
      await enqueueForScanner(manager, 'job', 12);
      const handler = handle(manager, signupHandler(manager));

      const report = await handler(scheduledEvent(), lambdaContext(30_000));

      expect(report).toMatchObject({ claimed: 12, succeeded: 12, maintenance: true });
      expect(await statuses(database, manager)).toEqual(Array(12).fill('succeeded'));
    });

    it('stops claiming within the remaining time; the rest stays initialized', async () => {
      const job = defineTask({ key: 'job', handler: () => sleep(100) });
      const { manager } = await lambdaManager([job], { concurrency: 1, taskTimeout: 400 });
      await enqueueForScanner(manager, 'job', 40);
      const context = lambdaContext(2500);

      const report = await handleCron(manager, { safetyMarginMs: 500 })(scheduledEvent(), context);

      expect(context.getRemainingTimeInMillis()).toBeGreaterThan(0);
      expect(report.claimed).toBeGreaterThan(0);
      expect(report.claimed).toBeLessThan(40);
      expect(report.succeeded).toBe(report.claimed);
      const after = await statuses(database, manager);
      expect(after.filter((status) => status === 'succeeded')).toHaveLength(report.claimed);
      expect(after.filter((status) => status === 'initialized')).toHaveLength(40 - report.claimed);
    });

    it('claims no task whose timeout outlasts the invocation, and reports it instead', async () => {
      const long = defineTask({ key: 'long', timeoutMs: 60_000, handler: () => new Promise<void>(() => {}) });
      const hung = defineTask({
        key: 'hung',
        timeoutMs: 300,
        retryTimes: 1,
        handler: () => new Promise<void>(() => {}),
      });
      const { manager, entries } = await lambdaManager([long, hung]);
      await enqueueForScanner(manager, 'long', 1);
      await enqueueForScanner(manager, 'hung', 1);
      const context = lambdaContext(1500);

      const report = await handleCron(manager, { safetyMarginMs: 500 })(scheduledEvent(), context);

      expect(context.getRemainingTimeInMillis()).toBeGreaterThan(0);
      // The hung task fits: its own timeout aborts it and it is retried; the long one is left alone.
      expect(report).toMatchObject({ claimed: 1, retried: 1, abnormal: 1 });
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

    it('refuses to tick when the margin leaves no time, and says how to fix it', async () => {
      const { manager, entries } = await lambdaManager([]);
      await expect(handleCron(manager)(scheduledEvent(), lambdaContext(1500))).rejects.toMatchObject({
        code: 'GTA_INVALID_OPTION',
      });
      expect(entries).toContainEqual(
        expect.objectContaining({ level: 'error', message: 'cron tick failed' }),
      );
    });
  });
});
