/**
 * examples/aws-lambda's one entry, invoked as Lambda would invoke it, on the real Postgres: an
 * API Gateway request and an EventBridge scheduled event, with DATABASE_URL pointing at a fresh
 * test database.
 */
import type { LambdaEvent } from 'hono/aws-lambda';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  createPostgresDatabase,
  endPool,
  postgresAvailable,
  type TestDatabase,
} from '../../../core/test/support/databases.js';
import { httpEvent, lambdaContext, scheduledEvent } from './support/lambda.js';

const hasPostgres = await postgresAvailable();

describe.skipIf(!hasPostgres)('examples/aws-lambda', () => {
  let database: TestDatabase;
  let example: typeof import('../../../examples/aws-lambda/src/handler.js') &
    typeof import('../../../examples/aws-lambda/src/db.js') &
    typeof import('../../../examples/aws-lambda/src/manager.js') &
    typeof import('../../../examples/aws-lambda/src/tasks.js');

  beforeAll(async () => {
    database = await createPostgresDatabase();
    process.env.DATABASE_URL = database.url;
    process.env.ADMIN_TOKEN = 'example-admin-token';
    example = {
      ...(await import('../../../examples/aws-lambda/src/handler.js')),
      ...(await import('../../../examples/aws-lambda/src/db.js')),
      ...(await import('../../../examples/aws-lambda/src/manager.js')),
      ...(await import('../../../examples/aws-lambda/src/tasks.js')),
    };
    const { migrate } = await import('../../../examples/aws-lambda/src/migrate.js');
    await migrate();
  });
  afterAll(async () => {
    if (example) await endPool(example.pool);
    await database?.close();
  });

  // Hono declares API Gateway's event more strictly than API Gateway sends it; see handler.test.ts.
  const signup = (email: string) =>
    example.handler(httpEvent('POST', '/signup', { email }) as unknown as LambdaEvent, lambdaContext(30_000));
  const tasks = () =>
    database.query<{ task_key: string; status: string }>(
      `select task_key, status from gta_tasks where task_key not like 'gta:%' order by id`,
    );

  it('signs a user up and has welcomed them by the time the invocation returns', async () => {
    expect(await signup('Grace@Example.com')).toMatchObject({ statusCode: 201 });
    const [user] = await database.query<{ email: string; welcomed_at: Date | null }>(
      'select email, welcomed_at from users',
    );
    expect(user?.email).toBe('grace@example.com');
    expect(user?.welcomed_at).toBeInstanceOf(Date);
    expect(await tasks()).toEqual([{ task_key: 'send-welcome', status: 'succeeded' }]);
  });

  it('refuses a duplicate or invalid email without enqueueing', async () => {
    expect(await signup('grace@example.com')).toMatchObject({ statusCode: 409 });
    expect(await signup('not-an-email')).toMatchObject({ statusCode: 400 });
    expect(await tasks()).toHaveLength(1);
  });

  it('runs a tick for the schedule’s event, on the same entry', async () => {
    // Enqueued in a transaction gta did not open: only a scanner starts it.
    await example.db.transaction((tx) => example.manager.enqueue(example.sendWelcome, { userId: 1 }, { tx }));
    expect((await tasks())[1]).toEqual({ task_key: 'send-welcome', status: 'initialized' });

    const report = await example.handler(scheduledEvent(), lambdaContext(60_000));

    expect(report).toMatchObject({ claimed: 1, succeeded: 1, maintenance: true });
    expect((await tasks())[1]).toEqual({ task_key: 'send-welcome', status: 'succeeded' });
  });

  it('serves the admin API of @gta/core/admin behind its token', async () => {
    const admin = async (path: string, authorization?: string) => {
      const event = httpEvent('GET', path);
      if (authorization) event.headers.authorization = authorization;
      return example.handler(event as unknown as LambdaEvent, lambdaContext(30_000)) as Promise<{
        statusCode: number;
        body: string;
      }>;
    };
    expect((await admin('/admin/api/stats')).statusCode).toBe(401);
    const stats = await admin('/admin/api/stats', 'Bearer example-admin-token');
    expect(stats.statusCode).toBe(200);
    expect(JSON.parse(stats.body)).toMatchObject({ byStatus: { succeeded: expect.any(Number) } });
  });

  it('fires the daily digest at a new sandbox’s first scheduled event after its slot', async () => {
    const [digest] = await example.manager.listSchedules();
    expect(digest).toMatchObject({ id: 'daily-digest', cron: '0 8 * * *', timezone: 'Europe/Paris' });
    // The schedule's row as a deployment leaves it when the schedule last fired two days ago.
    await database.query(
      `insert into gta_tasks_schedules (id, task_key, cron, timezone, last_slot, created_at, updated_at)
       values ($1, $2, $3, $4, now() - interval '2 days', now() - interval '9 days', now() - interval '2 days')
       on conflict (id) do update set last_slot = excluded.last_slot, updated_at = excluded.updated_at`,
      [digest!.id, digest!.task, digest!.cron, digest!.timezone],
    );
    await database.query(
      `insert into users (email, welcomed_at) select 'user' || h || '@example.com', now() - h * interval '1 hour'
       from unnest(array[2, 12, 20, 30, 50]) as h`,
    );
    // This sandbox's manager, which ticked above, knows its next slot is tomorrow's; a sandbox
    // Lambda starts afresh reads the schedule's row at its first tick.
    vi.resetModules();
    const sandbox = {
      ...(await import('../../../examples/aws-lambda/src/handler.js')),
      ...(await import('../../../examples/aws-lambda/src/db.js')),
    };
    const logged = vi.spyOn(console, 'log');
    let digestLine: string | undefined;
    try {
      const report = await sandbox.handler(scheduledEvent(), lambdaContext(60_000));
      expect(report).toMatchObject({ scheduled: 1, claimed: 1, succeeded: 1, failed: 0 });
      digestLine = logged.mock.calls
        .map(([text]) => String(text))
        .find((text) => text.includes('daily digest'));
    } finally {
      logged.mockRestore();
      await endPool(sandbox.pool);
    }

    const fired = await database.query<{ status: string; schedule_id: string; scheduled_for: Date }>(
      `select status, schedule_id, scheduled_for from gta_tasks where task_key = 'daily-digest'`,
    );
    expect(fired).toEqual([
      { status: 'succeeded', schedule_id: 'daily-digest', scheduled_for: expect.any(Date) },
    ]);
    // Its slot: the latest 8:00 in Paris.
    const slot = fired[0]!.scheduled_for;
    expect(Date.now() - slot.getTime()).toBeLessThan(25 * 3600 * 1000);
    const paris = new Intl.DateTimeFormat('en-GB', { timeZone: 'Europe/Paris', timeStyle: 'short' });
    expect(paris.format(slot)).toBe('08:00');
    // It counted the users welcomed in the 24 hours up to its slot.
    const [expected] = await database.query<{ welcomed: number }>(
      `select count(*)::int as welcomed from users
       where welcomed_at > $1::timestamptz - interval '1 day' and welcomed_at <= $1`,
      [slot],
    );
    expect(JSON.parse(digestLine!.slice(digestLine!.indexOf('{')))).toMatchObject({
      welcomed: expected!.welcomed,
      until: slot.toISOString(),
    });
  });
});
