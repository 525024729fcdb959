/**
 * examples/aws-lambda's one entry, invoked as Lambda would invoke it, on the real Postgres: an
 * API Gateway request and an EventBridge scheduled event, with DATABASE_URL pointing at a fresh
 * test database.
 */
import type { LambdaEvent } from 'hono/aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
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
});
