/**
 * Fuzzing the admin API: thousands of generated query strings, paths and JSON bodies, with a
 * valid token. Every answer is JSON; nothing is a 500 (the database is healthy); every refusal is
 * a 4xx whose body names the problem without a stack trace or SQL.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAdminApp } from '../../core/src/admin/index.js';
import { createTaskManager, defineTask, silentLogger } from '../../core/src/index.js';
import { createPgliteDatabase, type TestDatabase } from '../../core/test/support/databases.js';

const TOKEN = 'fuzz-token-0123456789abcdef';
const STATUSES = ['initialized', 'running', 'succeeded', 'failed', 'done', '', 'RUNNING'];

const scalar = fc.oneof(
  fc.string({ maxLength: 40 }),
  fc.integer().map(String),
  fc.double().map(String),
  fc.constantFrom('-1', '0', '1e309', 'NaN', '99999999999999999999', 'null', '[]', '%00', "' or 1=1 --"),
);

const query = fc
  .dictionary(
    fc.constantFrom(
      'status',
      'key',
      'limit',
      'beforeId',
      'createdAfter',
      'createdBefore',
      'updatedAfter',
      'minutes',
      'x',
    ),
    fc.oneof(scalar, fc.constantFrom(...STATUSES)),
    { maxKeys: 5 },
  )
  .map((params) => new URLSearchParams(params).toString());

const body = fc.oneof(
  fc.jsonValue(),
  fc.record(
    {
      ids: fc.oneof(
        fc.array(fc.oneof(fc.integer(), fc.string(), fc.double()), { maxLength: 5 }),
        fc.anything(),
      ),
      status: fc.oneof(fc.constantFrom(...STATUSES), fc.anything()),
      reason: fc.oneof(fc.string({ maxLength: 50 }), fc.integer()),
      budgetMs: fc.oneof(fc.integer(), fc.double(), fc.string()),
    },
    { requiredKeys: [] },
  ),
);

interface FuzzRequest {
  method: 'GET' | 'POST';
  path: string;
  body?: unknown;
}

const request: fc.Arbitrary<FuzzRequest> = fc.oneof(
  query.map((q) => ({ method: 'GET' as const, path: `/api/tasks?${q}` })),
  fc
    .tuple(scalar, query)
    .map(([id, q]) => ({ method: 'GET' as const, path: `/api/tasks/${encodeURIComponent(id)}?${q}` })),
  query.map((q) => ({ method: 'GET' as const, path: `/api/stats?${q}` })),
  query.map((q) => ({ method: 'GET' as const, path: `/api/abnormal?${q}` })),
  query.map((q) => ({ method: 'GET' as const, path: `/api/unsuccessful?${q}` })),
  body.map((b) => ({ method: 'POST' as const, path: '/api/tasks/rerun', body: b })),
  fc.tuple(scalar, body).map(([id, b]) => ({
    method: 'POST' as const,
    path: `/api/tasks/${encodeURIComponent(id)}/rerun`,
    body: b,
  })),
  fc.tuple(scalar, body).map(([id, b]) => ({
    method: 'POST' as const,
    path: `/api/tasks/${encodeURIComponent(id)}/cancel`,
    body: b,
  })),
  body.map((b) => ({ method: 'POST' as const, path: '/api/tick', body: b })),
  fc.constant({ method: 'GET' as const, path: '/api/schedules' }),
  fc
    .tuple(
      fc.oneof(fc.constantFrom('nightly', 'refused', 'gone'), scalar),
      fc.constantFrom('pause', 'resume', 'trigger'),
      body,
    )
    .map(([id, action, b]) => ({
      method: 'POST' as const,
      path: `/api/schedules/${encodeURIComponent(id)}/${action}`,
      body: b,
    })),
);

describe('the admin API under generated input', () => {
  let database: TestDatabase;
  let admin: ReturnType<typeof createAdminApp>;

  beforeAll(async () => {
    database = await createPgliteDatabase();
    const noop = defineTask({ key: 'noop', handler: () => {} });
    const strict = defineTask({
      key: 'strict',
      schema: {
        '~standard': { version: 1, vendor: 'fuzz', validate: () => ({ issues: [{ message: 'no' }] }) },
      },
      handler: () => {},
    });
    // A schedule the table keeps but the code no longer defines, one that fires, one refused.
    const previous = createTaskManager({
      db: database.db,
      tasks: [noop],
      logger: silentLogger,
      schedules: [{ id: 'gone', task: noop, cron: '* * * * *' }],
    });
    await previous.migrate();
    await previous.tick();
    const manager = createTaskManager({
      db: database.db,
      tasks: [noop, strict],
      logger: silentLogger,
      schedules: [
        { id: 'nightly', task: noop, cron: '0 3 * * *' },
        { id: 'refused', task: strict, cron: '0 3 * * *' },
      ],
    });
    await manager.migrate();
    await manager.enqueueMany(noop, [{}, {}, {}]);
    admin = createAdminApp(manager, { token: TOKEN });
  });
  afterAll(() => database.close());

  it('answers every request with JSON, never a 500, and refuses bad input with a 4xx', async () => {
    const seen = new Set<number>();
    await fc.assert(
      fc.asyncProperty(request, async ({ method, path, body: payload }) => {
        const response = await admin.request(path, {
          method,
          headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
          ...(method === 'POST' ? { body: JSON.stringify(payload ?? null) } : {}),
        });
        seen.add(response.status);
        expect(response.status, `${method} ${path}`).toBeLessThan(500);
        // A path with a trailing slash is redirected to the canonical one.
        if (response.status >= 300 && response.status < 400) return;
        const text = await response.text();
        expect(response.headers.get('content-type') ?? '').toContain('application/json');
        expect(() => JSON.parse(text)).not.toThrow();
        expect(text).not.toMatch(/\bat .+\.(ts|js):\d+|select .* from|GTA_STORAGE_ERROR/i);
      }),
      { numRuns: 1500 },
    );
    expect([...seen].some((status) => status >= 400)).toBe(true);
    expect([...seen].some((status) => status < 300)).toBe(true);
  }, 120_000);
});
