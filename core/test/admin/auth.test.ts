/**
 * Secure by default: no admin route answers without credentials, tokens are checked exactly,
 * dashboard sessions are signed and expire, and the options refuse an app without auth unless the
 * opt-out is explicit. On PGlite: nothing here depends on concurrency.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { createAdminApp, openApiDocument } from '../../src/admin/index.js';
import { errorResponse, taskListResponse } from '../../src/admin/schemas.js';
import { createTaskManager, isGtaError, type LogFields, silentLogger } from '../../src/index.js';
import { createPgliteDatabase, type TestDatabase } from '../support/databases.js';
import { adminFixture, BEARER, expectBody, type Fixture, TOKEN, tasks } from './support.js';

let database: TestDatabase;

beforeAll(async () => {
  database = await createPgliteDatabase();
});

afterAll(async () => {
  await database?.close();
});

afterEach(() => {
  vi.useRealTimers();
});

/** A valid body for each state-changing operation, so a refusal can only come from the auth check. */
const SAMPLE_BODIES: Record<string, unknown> = {
  '/api/tasks/rerun': { ids: [1], status: 'failed' },
  '/api/tasks/{id}/rerun': { status: 'failed' },
  '/api/tasks/{id}/cancel': {},
  '/api/tick': {},
  '/api/schedules/{id}/pause': {},
  '/api/schedules/{id}/resume': {},
  '/api/schedules/{id}/trigger': {},
  '/login': { token: 'not-the-token-at-all' },
  '/logout': {},
};

/** Every documented operation, plus paths no route serves, as requests without credentials. */
function everyRoute(): { method: string; path: string; body?: unknown }[] {
  const document = openApiDocument('/admin') as { paths: Record<string, Record<string, unknown>> };
  const routes = Object.entries(document.paths).flatMap(([path, item]) =>
    Object.keys(item).map((method) => ({
      method: method.toUpperCase(),
      path: path.replace('{id}', '1'),
      ...(method === 'post' ? { body: SAMPLE_BODIES[path] } : {}),
    })),
  );
  return [
    ...routes,
    { method: 'GET', path: '/api/no-such-route' },
    { method: 'DELETE', path: '/api/tasks/1' },
    { method: 'POST', path: '/api/tasks', body: {} },
  ];
}

async function requestWithout(
  f: Fixture,
  route: { method: string; path: string; body?: unknown },
  headers = {},
) {
  return f.raw(route.path === '/' ? '' : route.path, {
    method: route.method,
    headers: { 'content-type': 'application/json', ...headers },
    ...(route.body === undefined ? {} : { body: JSON.stringify(route.body) }),
  });
}

async function login(f: Fixture, token = TOKEN): Promise<Response> {
  return f.raw('/login', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ token }),
  });
}

/** The `name=value` part of a response's Set-Cookie. */
function cookieOf(response: Response): string {
  const header = response.headers.get('set-cookie');
  if (!header) throw new Error(`no Set-Cookie in a ${response.status} response`);
  return header.split(';')[0]!;
}

describe('without credentials', () => {
  it('no route answers: each is 401, and the body holds no task data', async () => {
    const f = await adminFixture(database);
    await f.manager.enqueue(tasks.boom, { secret: 'order-4711' });
    const routes = everyRoute();
    expect(routes.length).toBeGreaterThan(12);
    for (const route of routes) {
      const response = await requestWithout(f, route);
      const text = await response.text();
      expect(response.status, `${route.method} ${route.path}`).toBe(401);
      expect(text).not.toContain('order-4711');
      if (route.path !== '/') expect(errorResponse.parse(JSON.parse(text)).error.code).toBe('unauthorized');
    }
  });

  it('the dashboard answers 401 with the login form, and an API route says how to authenticate', async () => {
    const f = await adminFixture(database);
    const page = await f.raw('');
    expect(page.status).toBe(401);
    expect(page.headers.get('content-type')).toMatch(/^text\/html/);
    const html = await page.text();
    expect(html).toContain('id="login"');
    expect(html).not.toContain('id="tasks"');
    const api = await f.raw('/api/tasks');
    expect(api.headers.get('www-authenticate')).toBe('Bearer realm="gta admin"');
  });

  it('a trailing slash redirects without revealing anything, to a route that still needs credentials', async () => {
    const f = await adminFixture(database);
    const redirect = await f.raw('/');
    expect(redirect.status).toBe(308);
    expect(redirect.headers.get('location')).toBe('../admin');
    expect(await redirect.text()).toBe('');
  });
});

describe('the bearer token', () => {
  it('lets the exact token in; missing, wrong and almost-right tokens get 401', async () => {
    const f = await adminFixture(database);
    const ok = await f.raw('/api/tasks', { headers: BEARER });
    await expectBody(ok, 200, taskListResponse);
    const lowerScheme = await f.raw('/api/tasks', { headers: { authorization: `bearer ${TOKEN}` } });
    expect(lowerScheme.status).toBe(200);

    const lastCharFlipped = `${TOKEN.slice(0, -1)}${TOKEN.endsWith('9') ? '8' : '9'}`;
    const refused = [
      '',
      'Bearer',
      'Bearer ',
      `Bearer ${TOKEN.slice(0, -1)}`,
      `Bearer ${TOKEN}x`,
      `Bearer ${lastCharFlipped}`,
      `Bearer ${TOKEN.toUpperCase()}`,
      `Bearer ${TOKEN} extra`,
      `Basic ${btoa(`admin:${TOKEN}`)}`,
      `Token ${TOKEN}`,
      TOKEN,
    ];
    for (const authorization of refused) {
      const response = await f.raw('/api/tasks', { headers: { authorization } });
      expect(response.status, authorization).toBe(401);
    }
    expect((await f.raw(`/api/tasks?token=${TOKEN}`)).status).toBe(401);
  });

  it('is refused when shorter than 16 characters, and an app without any auth is refused', () => {
    const manager = createTaskManager({ db: database.db, logger: silentLogger });
    const invalid = [
      {},
      { token: 'short-token' },
      { token: 42 },
      { insecureDisableAuth: true, token: TOKEN },
      { insecureDisableAuth: true, authorize: () => true },
      { insecureDisableAuth: false },
      { token: TOKEN, trustedOrigins: ['https://ops.example.com/admin'] },
      { token: TOKEN, trustedOrigins: ['ops.example.com'] },
      { token: TOKEN, sessionTtlMs: 0 },
      { authorize: 'yes' },
    ];
    for (const options of invalid) {
      let thrown: unknown;
      try {
        createAdminApp(manager, options as never);
      } catch (error) {
        thrown = error;
      }
      expect(isGtaError(thrown, 'GTA_INVALID_OPTION'), JSON.stringify(options)).toBe(true);
    }
  });
});

describe('dashboard sessions', () => {
  it('login with the token sets a scoped, HttpOnly, SameSite=Strict cookie that opens the API and the dashboard', async () => {
    const f = await adminFixture(database);
    const response = await login(f);
    expect(response.status).toBe(204);
    const header = response.headers.get('set-cookie')!;
    expect(header).toMatch(
      /^gta_admin_session=v1\.\d+\.[\w-]+\.[\w-]+; Max-Age=28800; HttpOnly; SameSite=Strict$/,
    );
    // No Path: the browser scopes the cookie to the folder of the login URL, the mount point.
    expect(header).not.toMatch(/Path=/i);
    const cookie = cookieOf(response);
    await expectBody(await f.raw('/api/tasks', { headers: { cookie } }), 200, taskListResponse);
    const page = await f.raw('', { headers: { cookie } });
    expect(page.status).toBe(200);
    const html = await page.text();
    expect(html).toMatch(/<meta name="gta-csrf" content="[\w-]{43}">/);
    expect(html).toContain('id="logout"');
  });

  it('a wrong or almost-right token gets 401 and no cookie', async () => {
    const f = await adminFixture(database);
    for (const token of ['wrong', TOKEN.slice(0, -1), `${TOKEN} `, TOKEN.toUpperCase()]) {
      const response = await login(f, token);
      expect(response.status, token).toBe(401);
      expect(response.headers.get('set-cookie')).toBeNull();
    }
    expect(
      (await f.raw('/login', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' }))
        .status,
    ).toBe(400);
  });

  it('refuses a tampered cookie, and one signed with a previous token', async () => {
    const f = await adminFixture(database);
    const cookie = cookieOf(await login(f));
    const [name, value] = cookie.split('=') as [string, string];
    const [version, expires, nonce, mac] = value.split('.') as [string, string, string, string];
    const forged = [
      `${name}=${version}.${Number(expires) + 86_400_000}.${nonce}.${mac}`,
      `${name}=${version}.${expires}.${nonce}x.${mac}`,
      // The first character: the last of a 32-byte base64url value carries padding bits.
      `${name}=${version}.${expires}.${nonce}.${mac.startsWith('A') ? 'B' : 'A'}${mac.slice(1)}`,
      `${name}=${version}.${expires}.${nonce}`,
      `${name}=v2.${expires}.${nonce}.${mac}`,
      `${name}=${TOKEN}`,
    ];
    for (const attempt of forged) {
      expect((await f.raw('/api/tasks', { headers: { cookie: attempt } })).status, attempt).toBe(401);
    }
    const rotated = await adminFixture(database, { admin: { token: `${TOKEN}-rotated` } });
    expect((await rotated.raw('/api/tasks', { headers: { cookie } })).status).toBe(401);
  });

  it('expires after sessionTtlMs', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    const f = await adminFixture(database, { admin: { token: TOKEN, sessionTtlMs: 60_000 } });
    const cookie = cookieOf(await login(f));
    vi.advanceTimersByTime(59_000);
    expect((await f.raw('/api/tasks', { headers: { cookie } })).status).toBe(200);
    vi.advanceTimersByTime(1_000);
    expect((await f.raw('/api/tasks', { headers: { cookie } })).status).toBe(401);
  });

  it('logout clears the cookie', async () => {
    const f = await adminFixture(database);
    const cookie = cookieOf(await login(f));
    const html = await (await f.raw('', { headers: { cookie } })).text();
    const csrf = /name="gta-csrf" content="([\w-]+)"/.exec(html)![1]!;
    const response = await f.raw('/logout', {
      method: 'POST',
      headers: { cookie, 'content-type': 'application/json', 'x-gta-csrf': csrf },
      body: '{}',
    });
    expect(response.status).toBe(204);
    expect(response.headers.get('set-cookie')).toBe(
      'gta_admin_session=; Max-Age=0; HttpOnly; SameSite=Strict',
    );
  });

  it('is not offered when the app has no token', async () => {
    const f = await adminFixture(database, { admin: { authorize: () => false } });
    expect((await login(f)).status).toBe(401);
    const html = await (await f.raw('')).text();
    expect(html).not.toContain('id="login"');
    expect(html).toContain('Sign in through your application');
  });
});

describe('the authorize hook', () => {
  it('lets in exactly the requests it returns true for', async () => {
    const seen: string[] = [];
    const f = await adminFixture(database, {
      admin: {
        authorize: (c) => {
          seen.push(c.req.path);
          return c.req.header('x-user') === 'ops';
        },
      },
    });
    expect((await f.raw('/api/tasks', { headers: { 'x-user': 'ops' } })).status).toBe(200);
    expect((await f.raw('/api/tasks', { headers: { 'x-user': 'guest' } })).status).toBe(401);
    expect((await f.raw('/api/tasks', { headers: BEARER })).status).toBe(401);
    expect(seen).toEqual(['/admin/api/tasks', '/admin/api/tasks', '/admin/api/tasks']);
  });

  it('only a true result counts, and a hook that throws gets a bare 500', async () => {
    const truthy = await adminFixture(database, { admin: { authorize: () => 'yes' as unknown as boolean } });
    expect((await truthy.raw('/api/tasks')).status).toBe(401);
    const throwing = await adminFixture(database, {
      admin: {
        authorize: () => {
          throw new Error('identity provider unreachable at 10.0.0.7');
        },
      },
    });
    const response = await throwing.raw('/api/tasks');
    expect(response.status).toBe(500);
    expect(await response.text()).not.toContain('10.0.0.7');
  });

  it('runs after the token: either lets a request in', async () => {
    const f = await adminFixture(database, {
      admin: { token: TOKEN, authorize: (c) => c.req.header('x-user') === 'ops' },
    });
    expect((await f.raw('/api/tasks', { headers: BEARER })).status).toBe(200);
    expect((await f.raw('/api/tasks', { headers: { 'x-user': 'ops' } })).status).toBe(200);
    expect((await f.raw('/api/tasks')).status).toBe(401);
  });
});

describe('insecureDisableAuth', () => {
  it('serves without credentials, and says so in the log when the app is created', async () => {
    const warnings: { fields: LogFields; message: string | undefined }[] = [];
    const logger = {
      ...silentLogger,
      warn: (fields: LogFields, message?: string) => warnings.push({ fields, message }),
    };
    const f = await adminFixture(database, { admin: { insecureDisableAuth: true }, manager: { logger } });
    expect(warnings).toHaveLength(1);
    expect(warnings[0]!.message).toMatch(/authentication is disabled/);
    await expectBody(await f.raw('/api/tasks'), 200, taskListResponse);
    expect((await f.raw('')).status).toBe(200);
  });
});

describe('response headers', () => {
  it('forbid framing, sniffing and caching; the page runs only its own nonce-bearing script', async () => {
    const f = await adminFixture(database);
    for (const response of [
      await f.raw('/api/tasks', { headers: BEARER }),
      await f.raw('', { headers: BEARER }),
    ]) {
      expect(response.headers.get('x-frame-options')).toBe('DENY');
      expect(response.headers.get('x-content-type-options')).toBe('nosniff');
      expect(response.headers.get('cache-control')).toBe('no-store');
      expect(response.headers.get('content-security-policy')).toMatch(/frame-ancestors 'none'/);
    }
    const page = await f.raw('', { headers: BEARER });
    const policy = page.headers.get('content-security-policy')!;
    const nonce = /script-src 'nonce-([\w-]+)'/.exec(policy)![1];
    const html = await page.text();
    expect(html.match(/<script[^>]*>/g)).toEqual([`<script nonce="${nonce}">`]);
    // Bearer clients are no browser session: no CSRF token, no logout button.
    expect(html).toContain('<meta name="gta-csrf" content="">');
    expect(html).not.toContain('id="logout"');
    const again = await f.raw('', { headers: BEARER });
    expect(again.headers.get('content-security-policy')).not.toBe(policy);
  });
});
