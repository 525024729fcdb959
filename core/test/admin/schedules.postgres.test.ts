/**
 * The admin API's schedule routes on the real Postgres: the list with next and last slots and
 * their outcome, pause and resume as the next ticks see them, trigger (awaited, or handed to the
 * runtime's `waitUntil`), and the refusals: unknown or inactive schedules, bad input, no
 * credentials, a session without its CSRF token. Responses are parsed with the documented schemas.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import {
  errorResponse,
  scheduleListResponse,
  scheduleResponse,
  taskResponse,
} from '../../src/admin/schemas.js';
import { defineTask, type ScheduleDefinition } from '../../src/index.js';
import { createPostgresDatabase, postgresAvailable, type TestDatabase } from '../support/databases.js';
import { adminFixture, expectBody, type Fixture, TOKEN, tasks } from './support.js';

const hasPostgres = await postgresAvailable();

const MINUTE = 60_000;

/** Every five minutes, on the `ok` task; the fixture's clock starts at 12:00:00 UTC. */
const everyFive: ScheduleDefinition = {
  id: 'every-five',
  task: tasks.ok,
  cron: '*/5 * * * *',
  arg: { n: 5 },
};
/** Nightly at 03:00 in Paris (02:00 UTC in winter), on the `boom` task, which always fails. */
const nightly: ScheduleDefinition = {
  id: 'nightly',
  task: tasks.boom,
  cron: '0 3 * * *',
  timezone: 'Europe/Paris',
  catchUp: 'all',
};

const strict = defineTask({ key: 'strict', schema: z.object({ n: z.number() }), handler: () => {} });

describe.skipIf(!hasPostgres)('admin API: schedules, on real Postgres', () => {
  let database: TestDatabase;

  beforeAll(async () => {
    database = await createPostgresDatabase();
  });

  afterAll(async () => {
    await database?.close();
  });

  const fixture = (schedules: ScheduleDefinition[] = [everyFive, nightly], table?: string) =>
    adminFixture(database, {
      manager: {
        tasks: [...Object.values(tasks), strict],
        schedules,
        ...(table === undefined ? {} : { table }),
      },
    });

  async function listed(f: Fixture) {
    return (await expectBody(await f.get('/api/schedules'), 200, scheduleListResponse)).schedules;
  }

  async function one(f: Fixture, id: string) {
    const schedule = (await listed(f)).find((candidate) => candidate.id === id);
    if (!schedule) throw new Error(`schedule ${id} is not listed`);
    return schedule;
  }

  async function tasksOf(f: Fixture, scheduleId: string) {
    return (await f.manager.listTasks({ limit: 100 })).filter((task) => task.scheduleId === scheduleId);
  }

  describe('GET api/schedules', () => {
    it('lists every schedule by id with its next slot, and the last slot it fired with its outcome', async () => {
      const f = await fixture();
      expect(await listed(f)).toEqual([
        {
          id: 'every-five',
          task: 'ok',
          cron: '*/5 * * * *',
          timezone: 'UTC',
          catchUp: 'latest',
          active: true,
          paused: false,
          nextSlot: '2030-01-01T12:05:00.000Z',
          lastTask: null,
        },
        {
          id: 'nightly',
          task: 'boom',
          cron: '0 3 * * *',
          timezone: 'Europe/Paris',
          catchUp: 'all',
          active: true,
          paused: false,
          nextSlot: '2030-01-02T02:00:00.000Z',
          lastTask: null,
        },
      ]);

      await f.manager.tick(); // first seen: both start from now
      f.clock.advance(15 * 60 * MINUTE); // 03:00 the next morning: every-five fires its newest slot
      expect((await f.manager.tick()).scheduled).toBe(2);
      const [fiveTask] = await tasksOf(f, 'every-five');
      const [nightlyTask] = await tasksOf(f, 'nightly');
      const [five, night] = await listed(f);
      expect(five).toMatchObject({
        nextSlot: '2030-01-02T03:05:00.000Z',
        lastTask: {
          id: fiveTask!.id,
          status: 'succeeded',
          scheduledFor: '2030-01-02T03:00:00.000Z',
          lastError: null,
        },
      });
      expect(night).toMatchObject({
        nextSlot: '2030-01-03T02:00:00.000Z',
        lastTask: { id: nightlyTask!.id, status: 'failed', scheduledFor: '2030-01-02T02:00:00.000Z' },
      });
      expect(night!.lastTask!.lastError).toContain('boom failed on purpose');
    });

    it('lists a schedule the running code no longer defines as inactive', async () => {
      const before = await fixture([everyFive]);
      await before.manager.tick();
      before.clock.advance(5 * MINUTE);
      expect((await before.manager.tick()).scheduled).toBe(1);
      const after = await fixture([nightly], before.manager.options.table);
      after.clock.advance(5 * MINUTE);
      const schedules = await listed(after);
      expect(schedules.map((schedule) => [schedule.id, schedule.active])).toEqual([
        ['every-five', false],
        ['nightly', true],
      ]);
      expect(schedules[0]).toMatchObject({ catchUp: null, nextSlot: null, paused: false });
      expect(schedules[0]!.lastTask).toMatchObject({
        status: 'succeeded',
        scheduledFor: '2030-01-01T12:05:00.000Z',
      });
    });
  });

  describe('POST api/schedules/:id/pause and resume', () => {
    it('a paused schedule fires nothing at the next ticks; resumed, it fires from its next slot on', async () => {
      const f = await fixture();
      await f.manager.tick();
      const { schedule: paused } = await expectBody(
        await f.post('/api/schedules/every-five/pause', {}),
        200,
        scheduleResponse,
      );
      expect(paused).toMatchObject({ id: 'every-five', paused: true, active: true });
      expect(await one(f, 'nightly')).toMatchObject({ paused: false });

      f.clock.advance(11 * MINUTE); // 12:11: the 12:05 and 12:10 slots pass while paused
      expect((await f.manager.tick()).scheduled).toBe(0);
      expect(await tasksOf(f, 'every-five')).toEqual([]);
      // Pausing again changes nothing and is no error.
      await expectBody(await f.post('/api/schedules/every-five/pause', {}), 200, scheduleResponse);

      const { schedule: resumed } = await expectBody(
        await f.post('/api/schedules/every-five/resume', {}),
        200,
        scheduleResponse,
      );
      expect(resumed).toMatchObject({ paused: false, nextSlot: '2030-01-01T12:15:00.000Z' });
      expect((await f.manager.tick()).scheduled).toBe(0); // the slots passed while paused stay passed
      f.clock.advance(5 * MINUTE); // 12:16
      expect((await f.manager.tick()).scheduled).toBe(1);
      expect((await tasksOf(f, 'every-five')).map((task) => task.scheduledFor)).toEqual([
        '2030-01-01T12:15:00.000Z',
      ]);
    });

    it('pauses a schedule that never fired yet, and one the code no longer defines', async () => {
      const f = await fixture();
      // No tick yet: the schedule has no row, and the pause writes it.
      await expectBody(await f.post('/api/schedules/every-five/pause', {}), 200, scheduleResponse);
      f.clock.advance(5 * MINUTE);
      expect((await f.manager.tick()).scheduled).toBe(0);
      const other = await fixture([], f.manager.options.table);
      const { schedule } = await expectBody(
        await other.post('/api/schedules/nightly/pause', {}),
        200,
        scheduleResponse,
      );
      expect(schedule).toMatchObject({ id: 'nightly', active: false, paused: true });
    });
  });

  describe('POST api/schedules/:id/trigger', () => {
    it('enqueues the task with its argument and slot now, runs it, and leaves the slots alone', async () => {
      const f = await fixture();
      await f.manager.tick();
      f.clock.advance(MINUTE);
      const { task } = await expectBody(
        await f.post('/api/schedules/every-five/trigger', {}),
        200,
        taskResponse,
      );
      expect(task).toMatchObject({
        key: 'ok',
        status: 'succeeded',
        arg: { n: 5 },
        attempts: 1,
        scheduleId: 'every-five',
        scheduledFor: '2030-01-01T12:01:00.000Z',
      });
      expect(await one(f, 'every-five')).toMatchObject({
        nextSlot: '2030-01-01T12:05:00.000Z',
        lastTask: { id: task.id, status: 'succeeded', scheduledFor: '2030-01-01T12:01:00.000Z' },
      });
      f.clock.advance(4 * MINUTE); // 12:05: the slot fires as it would have
      expect((await f.manager.tick()).scheduled).toBe(1);
      expect(await tasksOf(f, 'every-five')).toHaveLength(2);
    });

    it('runs a paused schedule, which stays paused; a failure shows as its last outcome', async () => {
      const f = await fixture();
      await f.post('/api/schedules/nightly/pause', {});
      const { task } = await expectBody(
        await f.post('/api/schedules/nightly/trigger', {}),
        200,
        taskResponse,
      );
      expect(task).toMatchObject({ key: 'boom', status: 'failed', scheduleId: 'nightly' });
      const schedule = await one(f, 'nightly');
      expect(schedule).toMatchObject({ paused: true, lastTask: { id: task.id, status: 'failed' } });
      expect(schedule.lastTask!.lastError).toContain('boom failed on purpose');
    });

    it("starts the task through the runtime's waitUntil when the request has one, and answers before it ends", async () => {
      let release!: () => void;
      const gate = new Promise<void>((resolve) => {
        release = resolve;
      });
      const gated = defineTask({ key: 'gated', handler: () => gate });
      const f = await adminFixture(database, {
        manager: {
          tasks: [...Object.values(tasks), gated],
          schedules: [{ id: 'gated-schedule', task: gated, cron: '0 0 1 1 *' }],
        },
      });
      const handedOver: Promise<unknown>[] = [];
      const executionContext = {
        waitUntil: (promise: Promise<unknown>) => handedOver.push(promise),
        passThroughOnException: () => {},
        props: {},
      };
      const answer = f.parent.request(
        '/admin/api/schedules/gated-schedule/trigger',
        {
          method: 'POST',
          headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
          body: '{}',
        },
        undefined,
        executionContext,
      );
      let timer: ReturnType<typeof setTimeout> | undefined;
      const response = await Promise.race([
        answer,
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error('the answer waited for the handler to end')), 5_000);
        }),
      ]).finally(() => {
        clearTimeout(timer);
        release();
      });
      const { task } = await expectBody(response, 200, taskResponse);
      expect(task).toMatchObject({ key: 'gated', scheduleId: 'gated-schedule' });
      // Handed over, not awaited: the answer came while the handler waits at its gate.
      expect(['initialized', 'running']).toContain(task.status);
      expect(handedOver).toHaveLength(1);
      await Promise.all(handedOver);
      expect((await f.manager.getTask(task.id))?.status).toBe('succeeded');
    });

    it('answers 409 for a schedule the code no longer defines, and for an argument its task refuses', async () => {
      const first = await fixture([
        everyFive,
        { id: 'refused', task: strict, cron: '* * * * *', arg: { n: 'one' } },
      ]);
      await first.manager.tick();
      const refused = await expectBody(
        await first.post('/api/schedules/refused/trigger', {}),
        409,
        errorResponse,
      );
      expect(refused.error.code).toBe('argument_refused');
      expect(refused.error.message).toMatch(/^schedule "refused" was not triggered: .*n/);
      expect(await tasksOf(first, 'refused')).toEqual([]);

      const later = await fixture([], first.manager.options.table);
      const inactive = await expectBody(
        await later.post('/api/schedules/every-five/trigger', {}),
        409,
        errorResponse,
      );
      expect(inactive.error).toEqual({
        code: 'inactive_schedule',
        message: 'schedule "every-five" is no longer defined in this code, so it cannot be triggered',
      });
      expect(await tasksOf(later, 'every-five')).toEqual([]);
    });
  });

  it('answers 404 for a schedule that does not exist, on every route, and writes nothing', async () => {
    const f = await fixture();
    for (const action of ['pause', 'resume', 'trigger']) {
      const body = await expectBody(await f.post(`/api/schedules/no-such/${action}`, {}), 404, errorResponse);
      expect(body.error, action).toEqual({ code: 'not_found', message: 'there is no schedule "no-such"' });
    }
    expect((await listed(f)).map((schedule) => schedule.id)).toEqual(['every-five', 'nightly']);
    expect(await f.manager.listTasks({})).toEqual([]);
  });

  it('takes ids with reserved characters percent-encoded', async () => {
    const id = 'reports/eu weekly';
    const f = await fixture([{ id, task: tasks.ok, cron: '0 8 * * 1' }]);
    const path = `/api/schedules/${encodeURIComponent(id)}`;
    const { schedule } = await expectBody(await f.post(`${path}/pause`, {}), 200, scheduleResponse);
    expect(schedule).toMatchObject({ id, paused: true });
    const { task } = await expectBody(await f.post(`${path}/trigger`, {}), 200, taskResponse);
    expect(task.scheduleId).toBe(id);
  });

  it('refuses bodies other than {} and ids longer than 255 characters', async () => {
    const f = await fixture();
    for (const body of [{ now: true }, [], null, 'pause']) {
      const answer = await expectBody(
        await f.post('/api/schedules/every-five/pause', body),
        400,
        errorResponse,
      );
      expect(answer.error.code, JSON.stringify(body)).toBe('invalid_request');
    }
    await expectBody(await f.post('/api/schedules/every-five/trigger', { at: 'now' }), 400, errorResponse);
    const long = await expectBody(
      await f.post(`/api/schedules/${'x'.repeat(256)}/pause`, {}),
      400,
      errorResponse,
    );
    expect(long.error.issues?.[0]?.path).toBe('id');
    expect(await one(f, 'every-five')).toMatchObject({ paused: false });
    expect(await f.manager.listTasks({})).toEqual([]);
  });

  it('refuses requests without credentials (401) and session writes without the CSRF token (403)', async () => {
    const f = await fixture();
    const routes: [string, string][] = [
      ['GET', '/api/schedules'],
      ['POST', '/api/schedules/every-five/pause'],
      ['POST', '/api/schedules/every-five/resume'],
      ['POST', '/api/schedules/every-five/trigger'],
    ];
    for (const [method, path] of routes) {
      const response = await f.raw(path, {
        method,
        headers: { 'content-type': 'application/json' },
        ...(method === 'POST' ? { body: '{}' } : {}),
      });
      const body = await expectBody(response, 401, errorResponse);
      expect(body.error.code, path).toBe('unauthorized');
    }
    const login = await f.raw('/login', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ token: TOKEN }),
    });
    const cookie = login.headers.get('set-cookie')!.split(';')[0]!;
    for (const action of ['pause', 'trigger']) {
      const response = await f.raw(`/api/schedules/every-five/${action}`, {
        method: 'POST',
        headers: { cookie, 'content-type': 'application/json' },
        body: '{}',
      });
      expect((await expectBody(response, 403, errorResponse)).error.code, action).toBe('csrf_token');
    }
    expect(await one(f, 'every-five')).toMatchObject({ paused: false });
    expect(await f.manager.listTasks({})).toEqual([]);
  });
});
