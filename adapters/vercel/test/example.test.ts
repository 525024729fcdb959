/**
 * examples/vercel, route by route, on the real Postgres: its modules are imported as Vercel would
 * load them, with DATABASE_URL, CRON_SECRET and ADMIN_TOKEN pointing at a fresh test database.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createPostgresDatabase,
  endPool,
  postgresAvailable,
  type TestDatabase,
} from '../../../core/test/support/databases.js';
import { vercelRequest } from './support/vercel.js';

const hasPostgres = await postgresAvailable();
const BASE = 'https://gta-example.vercel.app';

describe.skipIf(!hasPostgres)('examples/vercel', () => {
  let database: TestDatabase;
  let example: {
    signup: typeof import('../../../examples/vercel/api/signup.js');
    cron: typeof import('../../../examples/vercel/api/cron.js');
    admin: typeof import('../../../examples/vercel/api/admin.js');
    db: typeof import('../../../examples/vercel/src/db.js');
  };

  beforeAll(async () => {
    database = await createPostgresDatabase();
    process.env.DATABASE_URL = database.url;
    process.env.CRON_SECRET = 'example-cron-secret';
    process.env.ADMIN_TOKEN = 'example-admin-token';
    example = {
      signup: await import('../../../examples/vercel/api/signup.js'),
      cron: await import('../../../examples/vercel/api/cron.js'),
      admin: await import('../../../examples/vercel/api/admin.js'),
      db: await import('../../../examples/vercel/src/db.js'),
    };
    const { migrate } = await import('../../../examples/vercel/src/migrate.js');
    await migrate();
  });
  afterAll(async () => {
    if (example) await endPool(example.db.pool);
    await database?.close();
  });

  const signup = (email: string) =>
    example.signup.POST(
      new Request(`${BASE}/api/signup`, { method: 'POST', body: JSON.stringify({ email }) }),
    );
  const tasks = () =>
    database.query<{ task_key: string; status: string }>(
      `select task_key, status from gta_tasks where task_key not like 'gta:%' order by id`,
    );

  it('signs a user up and welcomes them after the response', async () => {
    const request = vercelRequest();
    const response = await request.run(() => signup('Grace@Example.com'));
    expect(response.status).toBe(201);
    expect(request.handed).toHaveLength(1);
    await request.settle();
    const [user] = await database.query<{ email: string; welcomed_at: Date | null }>(
      'select email, welcomed_at from users',
    );
    expect(user?.email).toBe('grace@example.com');
    expect(user?.welcomed_at).toBeInstanceOf(Date);
    expect(await tasks()).toEqual([{ task_key: 'send-welcome', status: 'succeeded' }]);
  });

  it('refuses a duplicate or invalid email without enqueueing', async () => {
    const request = vercelRequest();
    expect((await request.run(() => signup('grace@example.com'))).status).toBe(409);
    expect((await request.run(() => signup('not-an-email'))).status).toBe(400);
    expect(request.handed).toEqual([]);
    expect(await tasks()).toHaveLength(1);
  });

  it('runs the cron route only with the secret', async () => {
    const cron = (authorization?: string) =>
      vercelRequest().run(() =>
        example.cron.GET(
          new Request(`${BASE}/api/cron`, authorization ? { headers: { authorization } } : {}),
        ),
      );
    expect((await cron()).status).toBe(401);
    expect((await cron('Bearer example-admin-token')).status).toBe(401);
    const response = await cron('Bearer example-cron-secret');
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ claimed: 0, failed: 0 });
  });

  it('serves the admin API of @gta/core/admin behind its token', async () => {
    const admin = (path: string, init: RequestInit = {}) =>
      example.admin.GET(new Request(`${BASE}/api/admin${path}`, init));
    const auth = { authorization: 'Bearer example-admin-token' };

    expect((await admin('/api/stats')).status).toBe(401);
    expect(
      (await admin('/api/stats', { headers: { authorization: 'Bearer example-cron-secret' } })).status,
    ).toBe(401);
    const stats = (await (await admin('/api/stats', { headers: auth })).json()) as {
      byStatus: Record<string, number>;
    };
    expect(stats.byStatus.succeeded).toBe(1);
    const listed = (await (await admin('/api/tasks?status=succeeded', { headers: auth })).json()) as {
      tasks: { id: number }[];
    };
    expect(listed.tasks).toHaveLength(1);
    expect((await admin('/api/tasks?status=sideways', { headers: auth })).status).toBe(400);

    const rerun = await example.admin.POST(
      new Request(`${BASE}/api/admin/api/tasks/${listed.tasks[0]!.id}/rerun`, {
        method: 'POST',
        headers: { ...auth, 'content-type': 'application/json' },
        body: JSON.stringify({ status: 'succeeded' }),
      }),
    );
    expect(rerun.status).toBe(200);
    expect(await tasks()).toEqual([{ task_key: 'send-welcome', status: 'initialized' }]);
    expect((await admin('/api/unsuccessful', { headers: auth })).status).toBe(200);
    expect((await admin('', { headers: auth })).headers.get('content-type')).toContain('text/html');
  });
});
