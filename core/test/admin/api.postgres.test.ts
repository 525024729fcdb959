/**
 * The admin API through `app.request(...)` on the real Postgres: every route, every filter,
 * keyset pagination at its boundaries, malformed input, and operations on tasks in the wrong
 * status. Responses are parsed with the schemas the OpenAPI document is generated from.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  abnormalResponse,
  errorResponse,
  rerunResponse,
  statsResponse,
  taskListResponse,
  taskResponse,
  tickResponse,
  unsuccessfulResponse,
} from '../../src/admin/schemas.js';
import type { LogFields, Logger } from '../../src/index.js';
import { createPostgresDatabase, postgresAvailable, type TestDatabase } from '../support/databases.js';
import { adminFixture, expectBody, type Fixture, JSON_HEADERS, tasks } from './support.js';

const hasPostgres = await postgresAvailable();

const idsOf = (page: { tasks: { id: number }[] }) => page.tasks.map((task) => task.id);

describe.skipIf(!hasPostgres)('admin API on real Postgres', () => {
  let database: TestDatabase;

  beforeAll(async () => {
    database = await createPostgresDatabase();
  });

  afterAll(async () => {
    await database?.close();
  });

  const fixture = (options?: Parameters<typeof adminFixture>[1]) => adminFixture(database, options);

  async function list(f: Fixture, query: string) {
    return expectBody(await f.get(`/api/tasks${query}`), 200, taskListResponse);
  }

  async function refused(response: Response, status = 400) {
    return expectBody(response, status, errorResponse);
  }

  describe('GET api/tasks', () => {
    it('lists tasks newest first, each with every documented field', async () => {
      const f = await fixture();
      const first = await f.manager.enqueue(tasks.ok, { n: 1 });
      const second = await f.manager.enqueue(tasks.boom, { n: 2 });
      const page = await list(f, '');
      expect(idsOf(page)).toEqual([second, first]);
      expect(page.nextBeforeId).toBeNull();
      expect(page.tasks[0]).toMatchObject({ key: 'boom', status: 'failed', arg: { n: 2 }, attempts: 1 });
      expect(page.tasks[0]!.lastError).toContain('boom failed on purpose');
      expect(page.tasks[1]).toMatchObject({ key: 'ok', status: 'succeeded', arg: { n: 1 } });
    });

    it('filters by one status, several statuses and the task key', async () => {
      const f = await fixture();
      const succeeded = await f.manager.enqueue(tasks.ok, {});
      const failed = await f.manager.enqueue(tasks.boom, {});
      const waiting = await f.manager.enqueue(tasks.later, {}, { delayMs: 60_000 });
      expect(idsOf(await list(f, '?status=failed'))).toEqual([failed]);
      expect(idsOf(await list(f, '?status=failed&status=initialized'))).toEqual([waiting, failed]);
      expect(idsOf(await list(f, '?status=running'))).toEqual([]);
      expect(idsOf(await list(f, '?key=ok'))).toEqual([succeeded]);
      expect(idsOf(await list(f, '?key=ok&status=failed'))).toEqual([]);
      expect(idsOf(await list(f, '?key=no-such-key'))).toEqual([]);
    });

    it('filters by creation time: after is inclusive, before exclusive', async () => {
      const f = await fixture();
      const t0 = f.clock.iso();
      const early = await f.manager.enqueue(tasks.ok, {});
      f.clock.advance(10_000);
      const t1 = f.clock.iso();
      const late = await f.manager.enqueue(tasks.ok, {});
      expect(idsOf(await list(f, `?createdAfter=${t1}`))).toEqual([late]);
      expect(idsOf(await list(f, `?createdBefore=${t1}`))).toEqual([early]);
      expect(idsOf(await list(f, `?createdAfter=${t0}&createdBefore=${t1}`))).toEqual([early]);
      expect(
        idsOf(await list(f, `?createdAfter=${encodeURIComponent('2030-01-01T13:00:05+01:00')}`)),
      ).toEqual([late]);
    });

    it('filters by update time', async () => {
      const f = await fixture();
      const rerun = await f.manager.enqueue(tasks.boom, {});
      const untouched = await f.manager.enqueue(tasks.boom, {});
      f.clock.advance(60_000);
      const t1 = f.clock.iso();
      expect(await f.manager.forceRerunTasks([rerun], 'failed')).toBe(1);
      expect(idsOf(await list(f, `?updatedAfter=${t1}`))).toEqual([rerun]);
      expect(idsOf(await list(f, `?updatedBefore=${t1}`))).toEqual([untouched]);
      expect(idsOf(await list(f, `?updatedAfter=${t1}&status=failed`))).toEqual([]);
    });

    it('pages with beforeId: the last page says so, and never comes back empty', async () => {
      const f = await fixture();
      const ids: number[] = [];
      for (let n = 0; n < 5; n++) ids.push(await f.manager.enqueue(tasks.ok, { n }));
      const [a, b, c, d, e] = ids as [number, number, number, number, number];

      const first = await list(f, '?limit=2');
      expect(idsOf(first)).toEqual([e, d]);
      expect(first.nextBeforeId).toBe(d);
      const second = await list(f, `?limit=2&beforeId=${first.nextBeforeId}`);
      expect(idsOf(second)).toEqual([c, b]);
      expect(second.nextBeforeId).toBe(b);
      const last = await list(f, `?limit=2&beforeId=${second.nextBeforeId}`);
      expect(idsOf(last)).toEqual([a]);
      expect(last.nextBeforeId).toBeNull();

      // A page that ends exactly at the oldest task is the last one.
      const exact = await list(f, `?limit=2&beforeId=${c}`);
      expect(idsOf(exact)).toEqual([b, a]);
      expect(exact.nextBeforeId).toBeNull();
      expect(idsOf(await list(f, `?limit=5`))).toEqual([e, d, c, b, a]);
      expect((await list(f, '?limit=5')).nextBeforeId).toBeNull();
      expect(await list(f, `?beforeId=${a}`)).toEqual({ tasks: [], nextBeforeId: null });
      expect(idsOf(await list(f, `?beforeId=${e + 1000}&limit=1`))).toEqual([e]);
    });

    it('accepts page sizes from 1 to 500 and refuses the rest', async () => {
      const f = await fixture();
      await f.manager.enqueue(tasks.ok, {});
      await f.manager.enqueue(tasks.ok, {});
      expect((await list(f, '?limit=1')).tasks).toHaveLength(1);
      expect((await list(f, '?limit=500')).tasks).toHaveLength(2);
      for (const limit of ['0', '501', '100000', '-1', '1.5', 'abc', '', '1e2', '0x10']) {
        const body = await refused(await f.get(`/api/tasks?limit=${limit}`));
        expect(body.error.code).toBe('invalid_request');
        expect(body.error.issues?.[0]?.path).toBe('limit');
      }
      await refused(await f.get('/api/tasks?limit=1&limit=2'));
    });

    it('refuses unknown statuses, unknown parameters, bad ids, bad times and inverted ranges', async () => {
      const f = await fixture();
      const cases: [string, string][] = [
        ['?status=done', 'status'],
        ['?status=failed&status=FAILED', 'status'],
        ['?stauts=failed', ''],
        ['?beforeId=-5', 'beforeId'],
        ['?beforeId=0', 'beforeId'],
        ['?beforeId=99999999999999999', 'beforeId'],
        ['?createdAfter=yesterday', 'createdAfter'],
        ['?createdBefore=2030-01-01', 'createdBefore'],
        ['?updatedAfter=2030-13-01T00:00:00Z', 'updatedAfter'],
        ['?createdAfter=2030-01-02T00:00:00Z&createdBefore=2030-01-01T00:00:00Z', 'createdAfter'],
        ['?updatedAfter=2030-01-01T00:00:00Z&updatedBefore=2030-01-01T00:00:00Z', 'updatedAfter'],
        [`?key=${'k'.repeat(65)}`, 'key'],
      ];
      for (const [query, path] of cases) {
        const body = await refused(await f.get(`/api/tasks${query}`));
        expect(
          body.error.issues?.map((issue) => issue.path),
          query,
        ).toContain(path);
      }
    });
  });

  describe('GET api/tasks/:id', () => {
    it('returns the whole task: argument, context, attempts, last error, lease and timing', async () => {
      const f = await fixture();
      const id = await f.manager.enqueue(tasks.boom, { order: 7 }, { context: { traceId: 'abc' } });
      const { task } = await expectBody(await f.get(`/api/tasks/${id}`), 200, taskResponse);
      expect(task).toMatchObject({
        id,
        key: 'boom',
        status: 'failed',
        arg: { order: 7 },
        context: '{"traceId":"abc"}',
        attempts: 1,
        maxAttempts: 1,
        leaseExpiresAt: null,
        leaseToken: null,
        createdAt: f.clock.iso(),
        startedAt: f.clock.iso(),
        finishedAt: f.clock.iso(),
      });
      expect(task.lastError).toContain('boom failed on purpose');
    });

    it('answers 404 for a task that does not exist, and 400 for what is no task id', async () => {
      const f = await fixture();
      const missing = await refused(await f.get('/api/tasks/123456'), 404);
      expect(missing.error.code).toBe('not_found');
      for (const id of ['-1', '0', 'abc', '1.5', '1e3', '99999999999999999', '%20']) {
        const body = await refused(await f.get(`/api/tasks/${id}`));
        expect(body.error.issues?.[0]?.path, id).toBe('id');
      }
    });
  });

  describe('POST api/tasks/rerun (GTA ForceRerunTasks)', () => {
    it('reruns only the tasks in the expected status, and they run again', async () => {
      const f = await fixture();
      const failedA = await f.manager.enqueue(tasks.boom, {});
      const failedB = await f.manager.enqueue(tasks.boom, {});
      const succeeded = await f.manager.enqueue(tasks.ok, {});
      const result = await expectBody(
        await f.post('/api/tasks/rerun', {
          ids: [failedA, failedB, failedB, succeeded, 999_999],
          status: 'failed',
        }),
        200,
        rerunResponse,
      );
      expect(result).toEqual({ requested: 4, rerun: 2 });
      const page = await list(f, '?status=initialized');
      expect(idsOf(page)).toEqual([failedB, failedA]);
      expect(page.tasks.every((task) => task.attempts === 0)).toBe(true);
      expect((await f.manager.getTask(succeeded))?.status).toBe('succeeded');

      const report = await expectBody(await f.post('/api/tick', {}), 200, tickResponse);
      expect(report).toMatchObject({ claimed: 2, failed: 2 });
      expect((await f.manager.getTask(failedA))?.attempts).toBe(1);
    });

    it('reruns nothing when the tasks are in another status', async () => {
      const f = await fixture();
      const succeeded = await f.manager.enqueue(tasks.ok, {});
      const result = await expectBody(
        await f.post('/api/tasks/rerun', { ids: [succeeded], status: 'failed' }),
        200,
        rerunResponse,
      );
      expect(result).toEqual({ requested: 1, rerun: 0 });
      expect((await f.manager.getTask(succeeded))?.status).toBe('succeeded');
    });

    it('refuses malformed lists and statuses', async () => {
      const f = await fixture();
      const tooMany = Array.from({ length: 1001 }, (_, index) => index + 1);
      const bodies: unknown[] = [
        { ids: [], status: 'failed' },
        { ids: tooMany, status: 'failed' },
        { ids: [-1], status: 'failed' },
        { ids: [0], status: 'failed' },
        { ids: [1.5], status: 'failed' },
        { ids: ['1'], status: 'failed' },
        { ids: [2 ** 53], status: 'failed' },
        { ids: 1, status: 'failed' },
        { ids: [1], status: 'done' },
        { ids: [1], status: 1 },
        { ids: [1] },
        { ids: [1], status: 'failed', force: true },
        [1, 2],
        null,
        'failed',
      ];
      for (const body of bodies) {
        const answer = await refused(await f.post('/api/tasks/rerun', body));
        expect(answer.error.code, JSON.stringify(body)?.slice(0, 80)).toBe('invalid_request');
      }
    });
  });

  describe('POST api/tasks/:id/rerun', () => {
    it('reruns a task in the expected status and returns it', async () => {
      const f = await fixture();
      const id = await f.manager.enqueue(tasks.boom, {});
      const { task } = await expectBody(
        await f.post(`/api/tasks/${id}/rerun`, { status: 'failed' }),
        200,
        taskResponse,
      );
      expect(task).toMatchObject({ id, status: 'initialized', attempts: 0 });
    });

    it('answers 409 for a task in another status and leaves it alone, 404 for no task', async () => {
      const f = await fixture();
      const id = await f.manager.enqueue(tasks.ok, {});
      const conflict = await refused(await f.post(`/api/tasks/${id}/rerun`, { status: 'failed' }), 409);
      expect(conflict.error).toEqual({
        code: 'wrong_status',
        message: `task ${id} is succeeded; it was expected to be failed, so it was not rerun`,
      });
      expect((await f.manager.getTask(id))?.status).toBe('succeeded');
      await refused(await f.post('/api/tasks/424242/rerun', { status: 'failed' }), 404);
      await refused(await f.post(`/api/tasks/${id}/rerun`, { status: 'finished' }));
      await refused(await f.post(`/api/tasks/${id}/rerun`, {}));
      await refused(await f.post('/api/tasks/-3/rerun', { status: 'failed' }));
    });
  });

  describe('POST api/tasks/:id/cancel', () => {
    it('cancels a task that has not started, with the reason as its last error', async () => {
      const f = await fixture();
      const id = await f.manager.enqueue(tasks.later, {}, { delayMs: 60_000 });
      const { task } = await expectBody(
        await f.post(`/api/tasks/${id}/cancel`, { reason: 'customer withdrew' }),
        200,
        taskResponse,
      );
      expect(task).toMatchObject({ id, status: 'cancelled', lastError: 'customer withdrew' });
      const other = await f.manager.enqueue(tasks.later, {}, { delayMs: 60_000 });
      const { task: defaulted } = await expectBody(
        await f.post(`/api/tasks/${other}/cancel`, {}),
        200,
        taskResponse,
      );
      expect(defaulted.lastError).toBe('cancelled by an operator through the admin API');
    });

    it('answers 409 for a task that already ended, 404 for no task, 400 for a bad reason', async () => {
      const f = await fixture();
      const id = await f.manager.enqueue(tasks.ok, {});
      const conflict = await refused(await f.post(`/api/tasks/${id}/cancel`, {}), 409);
      expect(conflict.error.message).toBe(
        `task ${id} is succeeded; only a task that has not ended (initialized, or running and not yet asked) can be cancelled`,
      );
      expect((await f.manager.getTask(id))?.status).toBe('succeeded');
      await refused(await f.post('/api/tasks/777777/cancel', {}), 404);
      await refused(await f.post(`/api/tasks/${id}/cancel`, { reason: '' }));
      await refused(await f.post(`/api/tasks/${id}/cancel`, { reason: 'x'.repeat(501) }));
      await refused(await f.post(`/api/tasks/${id}/cancel`, { reason: 42 }));
    });
  });

  describe('GET api/stats', () => {
    it('counts per status and key, ages the oldest due task, and rates failures over the window', async () => {
      const f = await fixture();
      await f.manager.enqueue(tasks.ok, {});
      await f.manager.enqueue(tasks.ok, {});
      await f.manager.enqueue(tasks.boom, {});
      f.clock.advance(60_000);
      await f.manager.enqueue(tasks.boom, {});
      await f.enqueueForScanner(tasks.later);
      await f.manager.enqueue(tasks.later, {}, { delayMs: 3_600_000 });
      f.clock.advance(5_000);

      const stats = await expectBody(await f.get('/api/stats?minutes=5'), 200, statsResponse);
      expect(stats.byStatus).toEqual({ initialized: 2, running: 0, succeeded: 2, failed: 2, cancelled: 0 });
      expect(stats.byKey).toEqual({
        ok: { initialized: 0, running: 0, succeeded: 2, failed: 0, cancelled: 0 },
        boom: { initialized: 0, running: 0, succeeded: 0, failed: 2, cancelled: 0 },
        later: { initialized: 2, running: 0, succeeded: 0, failed: 0, cancelled: 0 },
      });
      // Only the due one counts: the delayed task is not late.
      expect(stats.oldestInitializedAgeMs).toBe(5_000);
      expect(stats.windowMinutes).toBe(5);
      expect(stats.finished).toEqual({ succeeded: 2, failed: 2 });
      expect(stats.failureRate).toBe(0.5);
      expect(stats.throughput).toEqual([
        { minute: '2030-01-01T12:00:00.000Z', succeeded: 2, failed: 1 },
        { minute: '2030-01-01T12:01:00.000Z', succeeded: 0, failed: 1 },
      ]);

      // A one-minute window holds only the last minute's failure.
      const recent = await expectBody(await f.get('/api/stats?minutes=1'), 200, statsResponse);
      expect(recent.finished).toEqual({ succeeded: 0, failed: 1 });
      expect(recent.failureRate).toBe(1);
    });

    it('has no failure rate when nothing finished, and refuses windows out of range', async () => {
      const f = await fixture();
      const stats = await expectBody(await f.get('/api/stats'), 200, statsResponse);
      expect(stats).toMatchObject({ windowMinutes: 60, failureRate: null, oldestInitializedAgeMs: null });
      expect(stats.throughput).toEqual([]);
      await expectBody(await f.get('/api/stats?minutes=1440'), 200, statsResponse);
      for (const minutes of ['0', '1441', '-5', 'hour'])
        await refused(await f.get(`/api/stats?minutes=${minutes}`));
    });
  });

  describe('GET api/abnormal', () => {
    it('reports what the maintenance check reports: due too long, and failed', async () => {
      const f = await fixture({ manager: { initializedTimeout: 60_000 } });
      const stuck = await f.enqueueForScanner(tasks.later);
      const failed = await f.manager.enqueue(tasks.boom, {});
      f.clock.advance(120_000);
      const fresh = await f.enqueueForScanner(tasks.later);
      const { tasks: abnormal } = await expectBody(await f.get('/api/abnormal'), 200, abnormalResponse);
      expect(abnormal.map(({ reason, task }) => [reason, task.id])).toEqual([
        ['initialized-too-long', stuck],
        ['failed', failed],
      ]);
      expect(abnormal.map(({ task }) => task.id)).not.toContain(fresh);
      expect(await f.manager.abnormalTasks()).toEqual(abnormal);
      const limited = await expectBody(await f.get('/api/abnormal?limit=1'), 200, abnormalResponse);
      expect(limited.tasks).toHaveLength(2);
      await refused(await f.get('/api/abnormal?limit=501'));
    });
  });

  describe('GET api/unsuccessful (GTA QueryUnsuccessfulTasks)', () => {
    it('lists tasks not succeeded by id, with limit and offset', async () => {
      const f = await fixture();
      const failed = await f.manager.enqueue(tasks.boom, {});
      await f.manager.enqueue(tasks.ok, {});
      const waiting = await f.manager.enqueue(tasks.later, {}, { delayMs: 60_000 });
      const all = await expectBody(await f.get('/api/unsuccessful'), 200, unsuccessfulResponse);
      expect(idsOf(all)).toEqual([failed, waiting]);
      const second = await expectBody(
        await f.get('/api/unsuccessful?limit=1&offset=1'),
        200,
        unsuccessfulResponse,
      );
      expect(idsOf(second)).toEqual([waiting]);
      for (const query of ['?offset=-1', '?offset=100001', '?limit=0', '?page=2']) {
        await refused(await f.get(`/api/unsuccessful${query}`));
      }
    });
  });

  describe('POST api/tick', () => {
    it('runs what is due and reports it', async () => {
      const f = await fixture();
      await f.enqueueForScanner(tasks.ok);
      await f.enqueueForScanner(tasks.boom);
      const report = await expectBody(await f.post('/api/tick', { budgetMs: 10_000 }), 200, tickResponse);
      expect(report).toMatchObject({ claimed: 2, succeeded: 1, failed: 1, retried: 0 });
      const idle = await expectBody(await f.post('/api/tick', { concurrency: 1 }), 200, tickResponse);
      expect(idle.claimed).toBe(0);
    });

    it('refuses budgets and concurrency out of range', async () => {
      const f = await fixture();
      for (const body of [
        { budgetMs: 0 },
        { budgetMs: 60_001 },
        { budgetMs: '5' },
        { concurrency: 0 },
        { concurrency: 101 },
      ]) {
        await refused(await f.post('/api/tick', body));
      }
    });
  });

  describe('bodies', () => {
    it('refuses malformed JSON (400), other media types (415) and large bodies (413)', async () => {
      const f = await fixture();
      const malformed = await refused(
        await f.raw('/api/tick', { method: 'POST', headers: JSON_HEADERS, body: '{"budgetMs": ' }),
      );
      expect(malformed.error.code).toBe('bad_request');
      const empty = await f.raw('/api/tick', { method: 'POST', headers: JSON_HEADERS });
      await refused(empty);
      for (const type of [
        'text/plain',
        'application/x-www-form-urlencoded',
        'multipart/form-data',
        'application/jsonp',
      ]) {
        const response = await f.raw('/api/tick', {
          method: 'POST',
          headers: { ...JSON_HEADERS, 'content-type': type },
          body: '{}',
        });
        expect((await refused(response, 415)).error.code, type).toBe('unsupported_media_type');
      }
      const huge = JSON.stringify({ ids: [1], status: 'failed', padding: 'x'.repeat(70_000) });
      const tooLarge = await f.raw('/api/tasks/rerun', { method: 'POST', headers: JSON_HEADERS, body: huge });
      expect((await refused(tooLarge, 413)).error.code).toBe('payload_too_large');
    });
  });

  it('answers a storage failure with a bare 500, and logs the details', async () => {
    const logged: { fields: LogFields; message: string | undefined }[] = [];
    const error = (fields: LogFields, message?: string) => logged.push({ fields, message });
    const logger: Logger = { debug: () => {}, info: () => {}, warn: () => {}, error };
    // No migration: the table does not exist, so every statement fails in the driver.
    const f = await fixture({ migrate: false, manager: { logger } });
    for (const path of ['/api/tasks', '/api/tasks/1', '/api/stats']) {
      const response = await f.get(path);
      const text = await response.text();
      expect(response.status).toBe(500);
      expect(errorResponse.parse(JSON.parse(text)).error).toEqual({
        code: 'internal',
        message: 'the request failed; the server log has the details',
      });
      expect(text).not.toMatch(/relation|select|does not exist|\bat\b|GTA_STORAGE_ERROR/i);
    }
    expect(logged).toHaveLength(3);
    expect(String(logged[0]!.fields.causes)).toMatch(/does not exist/);
  });
});
