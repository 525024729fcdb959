/**
 * examples/vercel, route by route, on the real Postgres: its modules are imported as Vercel would
 * load them, with DATABASE_URL, CRON_SECRET and ADMIN_TOKEN pointing at a fresh test database.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
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
    manager: typeof import('../../../examples/vercel/src/manager.js');
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
      manager: await import('../../../examples/vercel/src/manager.js'),
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

  // The first cron request of this file: the manager has not read the schedule's row yet (it would
  // know, from its own last tick, that the next slot is tomorrow's).
  it('fires the daily digest at the first cron request after its slot, and runs it', async () => {
    const [digest] = await example.manager.manager.listSchedules();
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
    const logged = vi.spyOn(console, 'log');
    const request = vercelRequest();
    const response = await request.run(() =>
      example.cron.GET(
        new Request(`${BASE}/api/cron`, { headers: { authorization: 'Bearer example-cron-secret' } }),
      ),
    );
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ scheduled: 1, claimed: 1, failed: 0 });
    await request.settle();
    const digestLine = logged.mock.calls
      .map(([text]) => String(text))
      .find((text) => text.includes('daily digest'));
    logged.mockRestore();

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
    // The welcome, and the digest the schedule fired.
    expect(stats.byStatus.succeeded).toBe(2);
    const listed = (await (
      await admin('/api/tasks?status=succeeded&key=send-welcome', { headers: auth })
    ).json()) as { tasks: { id: number }[] };
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
    expect(await tasks()).toEqual([
      { task_key: 'send-welcome', status: 'initialized' },
      { task_key: 'daily-digest', status: 'succeeded' },
    ]);
    expect((await admin('/api/unsuccessful', { headers: auth })).status).toBe(200);
    expect((await admin('', { headers: auth })).headers.get('content-type')).toContain('text/html');
  });
});
