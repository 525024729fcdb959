/**
 * Cross-site request protection. A browser attaches cookies to requests other sites make it send,
 * so every state-changing request that did not come with the bearer token must come from the
 * app's own origin, and a dashboard session's must also carry its X-GTA-CSRF token. On PGlite.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AdminOptions } from '../../src/admin/index.js';
import { errorResponse, taskResponse } from '../../src/admin/schemas.js';
import { createPgliteDatabase, type TestDatabase } from '../support/databases.js';
import { adminFixture, BEARER, expectBody, type Fixture, TOKEN, tasks } from './support.js';

let database: TestDatabase;

beforeAll(async () => {
  database = await createPgliteDatabase();
});

afterAll(async () => {
  await database?.close();
});

const OWN_ORIGIN = 'http://localhost';
const EVIL = 'https://evil.example';

/**
 * `text` with its first character changed. Not the last: base64url's last character of a 32-byte
 * value carries padding bits, so some changes there decode to the same bytes.
 */
function flipFirst(text: string): string {
  return `${text.startsWith('A') ? 'B' : 'A'}${text.slice(1)}`;
}

interface Session {
  cookie: string;
  csrf: string;
}

/** Signs in as the dashboard does and reads the CSRF token from the page. */
async function signIn(f: Fixture): Promise<Session> {
  const response = await f.raw('/login', {
    method: 'POST',
    headers: { 'content-type': 'application/json', origin: OWN_ORIGIN, 'sec-fetch-site': 'same-origin' },
    body: JSON.stringify({ token: TOKEN }),
  });
  expect(response.status).toBe(204);
  const cookie = response.headers.get('set-cookie')!.split(';')[0]!;
  const html = await (await f.raw('', { headers: { cookie } })).text();
  return { cookie, csrf: /name="gta-csrf" content="([\w-]+)"/.exec(html)![1]! };
}

/** Cancels a fresh delayed task with `headers`; returns the response and the task id. */
async function cancel(f: Fixture, headers: Record<string, string>) {
  const id = await f.manager.enqueue(tasks.later, {}, { delayMs: 60_000 });
  const response = await f.raw(`/api/tasks/${id}/cancel`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: '{}',
  });
  return { response, id };
}

async function expectRefused(f: Fixture, headers: Record<string, string>, code: string) {
  const { response, id } = await cancel(f, headers);
  const body = await expectBody(response, 403, errorResponse);
  expect(body.error.code, JSON.stringify(headers)).toBe(code);
  expect((await f.manager.getTask(id))?.status).toBe('initialized');
}

async function expectAllowed(f: Fixture, headers: Record<string, string>) {
  const { response } = await cancel(f, headers);
  const { task } = await expectBody(response, 200, taskResponse);
  expect(task.status).toBe('cancelled');
}

describe('a dashboard session', () => {
  it('changes state only with its own CSRF token, from its own origin', async () => {
    const f = await adminFixture(database);
    const { cookie, csrf } = await signIn(f);
    const other = await signIn(f);
    await expectRefused(f, { cookie }, 'csrf_token');
    await expectRefused(f, { cookie, 'x-gta-csrf': '' }, 'csrf_token');
    await expectRefused(f, { cookie, 'x-gta-csrf': flipFirst(csrf) }, 'csrf_token');
    await expectRefused(f, { cookie, 'x-gta-csrf': other.csrf }, 'csrf_token');
    await expectRefused(f, { cookie, 'x-gta-csrf': TOKEN }, 'csrf_token');
    await expectRefused(f, { cookie, 'x-gta-csrf': csrf, origin: EVIL }, 'cross_site_request');
    await expectRefused(
      f,
      { cookie, 'x-gta-csrf': csrf, 'sec-fetch-site': 'cross-site' },
      'cross_site_request',
    );
    await expectRefused(
      f,
      { cookie, 'x-gta-csrf': csrf, 'sec-fetch-site': 'same-site' },
      'cross_site_request',
    );
    await expectRefused(f, { cookie, 'x-gta-csrf': csrf, origin: 'null' }, 'cross_site_request');
    await expectAllowed(f, {
      cookie,
      'x-gta-csrf': csrf,
      origin: OWN_ORIGIN,
      'sec-fetch-site': 'same-origin',
    });
    await expectAllowed(f, { cookie, 'x-gta-csrf': csrf });
  });

  it('can read without a CSRF token: only state-changing requests need one', async () => {
    const f = await adminFixture(database);
    const { cookie } = await signIn(f);
    expect((await f.raw('/api/stats', { headers: { cookie, origin: EVIL } })).status).toBe(200);
  });

  it('cannot be opened from another site (login CSRF), nor by a form', async () => {
    const f = await adminFixture(database);
    const crossSite = await f.raw('/login', {
      method: 'POST',
      headers: { 'content-type': 'application/json', origin: EVIL, 'sec-fetch-site': 'cross-site' },
      body: JSON.stringify({ token: TOKEN }),
    });
    expect((await expectBody(crossSite, 403, errorResponse)).error.code).toBe('cross_site_request');
    expect(crossSite.headers.get('set-cookie')).toBeNull();
    const form = await f.raw('/login', {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: `token=${TOKEN}`,
    });
    expect(form.status).toBe(415);
  });
});

describe('the bearer token', () => {
  it('needs no CSRF token or origin: a browser never attaches it on its own', async () => {
    const f = await adminFixture(database);
    await expectAllowed(f, { ...BEARER, origin: EVIL, 'sec-fetch-site': 'cross-site' });
  });

  it('still needs a JSON body: a form post is refused before it is read', async () => {
    const f = await adminFixture(database);
    const id = await f.manager.enqueue(tasks.later, {}, { delayMs: 60_000 });
    const response = await f.raw(`/api/tasks/${id}/cancel`, {
      method: 'POST',
      headers: { ...BEARER, 'content-type': 'text/plain' },
      body: '{}',
    });
    expect(response.status).toBe(415);
    expect((await f.manager.getTask(id))?.status).toBe('initialized');
  });
});

describe.each<[string, AdminOptions, Record<string, string>]>([
  ['the authorize hook', { authorize: (c) => c.req.header('x-user') === 'ops' }, { 'x-user': 'ops' }],
  ['insecureDisableAuth', { insecureDisableAuth: true }, {}],
])('requests let in by %s', (_name, admin, credentials) => {
  it('change state only from the own origin or a trusted one', async () => {
    const f = await adminFixture(database, {
      admin: { ...admin, trustedOrigins: ['https://ops.example.com'] },
    });
    await expectRefused(f, { ...credentials, origin: EVIL }, 'cross_site_request');
    await expectRefused(f, { ...credentials, 'sec-fetch-site': 'cross-site' }, 'cross_site_request');
    await expectAllowed(f, { ...credentials, origin: OWN_ORIGIN });
    await expectAllowed(f, { ...credentials, 'sec-fetch-site': 'same-origin' });
    await expectAllowed(f, {
      ...credentials,
      origin: 'https://ops.example.com',
      'sec-fetch-site': 'cross-site',
    });
    // No Origin and no Sec-Fetch-Site: a client that is not a browser (curl, a script).
    await expectAllowed(f, credentials);
  });
});
