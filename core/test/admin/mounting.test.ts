/**
 * The admin app works wherever it is mounted: under a path with `route`, under a path with
 * `mount` (which strips the prefix), and as the whole app. The session cookie carries no Path, so
 * the browser scopes it to the mount point it logged in at.
 */
import { Hono } from 'hono';
import { describe, expect, it } from 'vitest';
import { createAdminApp } from '../../src/admin/index.js';
import { createTaskManager, silentLogger } from '../../src/index.js';
import { TOKEN } from './support.js';

function admin() {
  return createAdminApp(createTaskManager({ dryRun: true, logger: silentLogger }), { token: TOKEN });
}

const mounts: [string, string, () => Hono][] = [
  ['route', '/admin', () => new Hono().route('/admin', admin())],
  [
    'mount',
    '/ops/admin',
    () => {
      const parent = new Hono();
      parent.mount('/ops/admin', admin().fetch);
      return parent;
    },
  ],
  ['the whole app', '', () => admin() as unknown as Hono],
];

describe.each(mounts)('mounted with %s', (_how, base, build) => {
  it('signs in, serves the dashboard and the API, and redirects a trailing slash relative to itself', async () => {
    const app = build();
    const login = await app.request(`${base}/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ token: TOKEN }),
    });
    expect(login.status).toBe(204);
    const cookie = login.headers.get('set-cookie')!.split(';')[0]!;
    expect((await app.request(base || '/', { headers: { cookie } })).status).toBe(200);
    expect((await app.request(`${base}/api/tasks`, { headers: { cookie } })).status).toBe(200);
    const slash = await app.request(`${base}/api/tasks/?limit=5`, { headers: { cookie } });
    expect(slash.status).toBe(308);
    expect(new URL(slash.headers.get('location')!, `http://localhost${base}/api/tasks/`).href).toBe(
      `http://localhost${base}/api/tasks?limit=5`,
    );
  });
});
