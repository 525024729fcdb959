/**
 * examples/cloudflare-worker as it deploys: the bundle `npm run build` writes, in workerd
 * (Miniflare), on a fresh database of the real Postgres reached through the Neon driver and the
 * local WebSocket proxy. Its mail API is a gate the test holds and releases. Every outcome is
 * read from the task table, and from the tick reports the worker logs.
 */
import { createTaskManager, defineTask, migrationStatements, type SqlExecutor } from '@gta/core';
import * as neonProxy from '@gta/neon-proxy';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  createPostgresDatabase,
  postgresAvailable,
  type TestDatabase,
} from '../../../core/test/support/databases.js';
import { CONCURRENCY } from '../../../examples/cloudflare-worker/src/manager.js';
import {
  EXPIRE_INVITATIONS,
  SEND_INVITATION,
  type SendInvitation,
} from '../../../examples/cloudflare-worker/src/tasks.js';
import { type Gate, startGate } from './support/gate.js';
import { EXAMPLE_WORKER } from './support/paths.js';
import { eventually } from './support/poll.js';
import { type RunningWorker, startWorker } from './support/worker.js';

const hasPostgres = await postgresAvailable();
const ADMIN_TOKEN = 'example-admin-token-0123456789';

/** The newest 03:00 UTC, the slot of the example's nightly `expire-invitations`. */
function lastSlotAt3Utc(now = new Date()): Date {
  const slot = new Date(now);
  slot.setUTCHours(3, 0, 0, 0);
  if (slot > now) slot.setUTCDate(slot.getUTCDate() - 1);
  return slot;
}

interface TaskRow {
  id: number;
  status: string;
  attempts: number;
  last_error: string | null;
}

describe.skipIf(!hasPostgres)('examples/cloudflare-worker in workerd', () => {
  let database: TestDatabase;
  let proxy: neonProxy.NeonProxy;
  let mail: Gate;
  let worker: RunningWorker;

  const start = () =>
    startWorker({
      worker: EXAMPLE_WORKER,
      bindings: {
        DATABASE_URL: database.url!,
        NEON_WS_PROXY: `127.0.0.1:${proxy.port}/v2`,
        MAIL_API_URL: `${mail.url}/send`,
        GTA_ADMIN_TOKEN: ADMIN_TOKEN,
      },
    });
  const setup = () =>
    worker.fetch('/setup', { method: 'POST', headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });

  beforeAll(async () => {
    database = await createPostgresDatabase();
    proxy = await neonProxy.start({ postgresUrl: database.url! });
    mail = await startGate();
    worker = await start();
    expect((await setup()).status).toBe(200);
  });
  afterAll(async () => {
    await worker?.dispose();
    await mail?.close();
    await proxy?.close();
    await database?.close();
  });
  beforeEach(async () => {
    await database.exec('truncate gta_tasks, invitations, teams restart identity cascade');
  });

  const json = (body: unknown): RequestInit => ({
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  async function createTeam(seats: number): Promise<number> {
    const response = await worker.fetch('/teams', json({ name: 'Acme', seats }));
    expect(response.status).toBe(201);
    return ((await response.json()) as { id: number }).id;
  }
  const invite = (teamId: number, emails: string[]) =>
    worker.fetch(`/teams/${teamId}/invitations`, json({ emails }));
  const task = async (id: number) =>
    (
      await database.query<TaskRow>('select id, status, attempts, last_error from gta_tasks where id = $1', [
        id,
      ])
    )[0]!;
  const countByStatus = async () => {
    const rows = await database.query<{ status: string; count: number }>(
      `select status, count(*)::int as count from gta_tasks where task_key = $1 group by status`,
      [SEND_INVITATION],
    );
    return Object.fromEntries(rows.map((row) => [row.status, row.count]));
  };
  const mailedInvitations = () => mail.arrivals.map((arrival) => arrival.idempotencyKey);

  /** Invitations the test writes itself, for tasks enqueued outside the worker. */
  async function invitationsFor(emails: string[]): Promise<number[]> {
    const [team] = await database.query<{ id: number }>(
      `insert into teams (name, seats, seats_used) values ('Foreign', $1, $1) returning id`,
      [emails.length],
    );
    const rows = await database.query<{ id: number }>(
      'insert into invitations (team_id, email) select $1, unnest($2::text[]) returning id',
      [team!.id, emails],
    );
    return rows.map((row) => row.id);
  }
  /** Another service's manager on the same table, enqueueing in a transaction of its own. */
  const foreignManager = () =>
    createTaskManager({
      db: database.db,
      tasks: [
        defineTask({
          key: SEND_INVITATION,
          handler: () => {
            throw new Error('runs in the worker only');
          },
        }),
      ],
    });

  it('refuses POST /setup without the admin token; with it, setup is idempotent', async () => {
    expect((await worker.fetch('/setup', { method: 'POST' })).status).toBe(401);
    const again = await setup();
    expect(again.status).toBe(200);
    const latest = migrationStatements('gta_tasks').at(-1)!.version;
    expect(await again.json()).toEqual({ applied: [], version: latest });
  });

  // With the Neon driver's WebSocket open, workerd goes on running the request's work after the
  // response even when it was not handed to waitUntil (tried: this test still passes then), so
  // here only the order is checked; worker.test.ts's Hyperdrive path fails without waitUntil.
  it('runs the task of a committed request after the response', async () => {
    mail.reset('hold');
    const teamId = await createTeam(5);
    const response = await invite(teamId, ['ada@example.com']);
    expect(response.status).toBe(201);
    const {
      invitations: [invitation],
    } = (await response.json()) as { invitations: { id: number; taskId: number }[] };

    // The response is back while the mail call is held: the task cannot have finished.
    expect((await task(invitation!.taskId)).status).not.toBe('succeeded');
    await eventually('the task calls the mail API', () => mail.held === 1);
    expect(await task(invitation!.taskId)).toMatchObject({ status: 'running', attempts: 1 });

    mail.release();
    await eventually(
      'the task succeeds',
      async () => (await task(invitation!.taskId)).status === 'succeeded',
    );
    expect(await task(invitation!.taskId)).toMatchObject({ attempts: 1, last_error: null });
    expect(mailedInvitations()).toEqual([`invitation-${invitation!.id}`]);
    expect(JSON.parse(mail.arrivals[0]!.body)).toMatchObject({ to: 'ada@example.com' });
    const [sent] = await database.query<{ sent_at: Date | null }>(
      'select sent_at from invitations where id = $1',
      [invitation!.id],
    );
    expect(sent!.sent_at).not.toBeNull();
    expect(worker.reports).toEqual([]);
  });

  it('leaves no task and runs nothing when the request’s transaction throws', async () => {
    mail.reset('pass');
    const teamId = await createTeam(1);
    const response = await invite(teamId, ['ada@example.com', 'bob@example.com']);
    expect(response.status).toBe(409);
    expect(await response.json()).toEqual({ error: 'not enough seats left' });

    // The two tasks were inserted (their ids are spent) and rolled back with the invitations.
    const [sequence] = await database.query<{ last_value: string }>(
      `select last_value from pg_sequences where sequencename = 'gta_tasks_id_seq'`,
    );
    expect(sequence).toEqual({ last_value: '2' });
    expect(await database.query('select id from gta_tasks')).toEqual([]);
    expect(await database.query('select id from invitations')).toEqual([]);
    expect(await countByStatus()).toEqual({});

    expect(await worker.cron()).toMatchObject({ claimed: 0 });
    expect(mail.arrivals).toEqual([]);
  });

  it('leaves the tasks over its concurrency in the table, and the cron runs them', async () => {
    mail.reset('hold');
    const teamId = await createTeam(10);
    const emails = Array.from({ length: CONCURRENCY + 3 }, (_, index) => `user${index}@example.com`);
    expect((await invite(teamId, emails)).status).toBe(201);

    await eventually('the commit hook fills its slots', () => mail.held === CONCURRENCY);
    expect(await countByStatus()).toEqual({ running: CONCURRENCY, initialized: 3 });
    mail.release();
    await eventually(
      'the commit hook’s tasks succeed',
      async () => (await countByStatus()).succeeded === CONCURRENCY,
    );
    expect(await countByStatus()).toEqual({ succeeded: CONCURRENCY, initialized: 3 });

    expect(await worker.cron()).toMatchObject({ claimed: 3, succeeded: 3, failed: 0 });
    expect(await countByStatus()).toEqual({ succeeded: CONCURRENCY + 3 });
    expect(new Set(mailedInvitations()).size).toBe(CONCURRENCY + 3);
  });

  it('runs a task enqueued in a foreign transaction at the next cron, and a delayed one once due', async () => {
    mail.reset('pass');
    const [now, later] = await invitationsFor(['now@example.com', 'later@example.com']);
    const manager = foreignManager();
    const [foreignId, delayedId] = await database.db.transaction(async (tx: SqlExecutor) => [
      await manager.enqueue(SEND_INVITATION, { invitationId: now! } satisfies SendInvitation, { tx }),
      await manager.enqueue(SEND_INVITATION, { invitationId: later! } satisfies SendInvitation, {
        tx,
        delayMs: 1_500,
      }),
    ]);

    expect(await worker.cron()).toMatchObject({ claimed: 1, succeeded: 1 });
    expect(await task(foreignId!)).toMatchObject({ status: 'succeeded' });
    expect(await task(delayedId!)).toMatchObject({ status: 'initialized', attempts: 0 });

    await eventually(
      'the delayed task is due by the database clock',
      async () =>
        (await database.query('select id from gta_tasks where id = $1 and run_at <= now()', [delayedId]))
          .length === 1,
    );
    expect(await worker.cron()).toMatchObject({ claimed: 1, succeeded: 1 });
    expect(await task(delayedId!)).toMatchObject({ status: 'succeeded', attempts: 1 });
    expect(mailedInvitations()).toEqual([`invitation-${now}`, `invitation-${later}`]);
  });

  it('lets two concurrent ticks claim different tasks, each within its cap', async () => {
    mail.reset('hold');
    const total = 2 * CONCURRENCY + 2;
    const invitationIds = await invitationsFor(
      Array.from({ length: total }, (_, index) => `many${index}@example.com`),
    );
    const manager = foreignManager();
    await database.db.transaction((tx: SqlExecutor) =>
      manager.enqueueMany(
        SEND_INVITATION,
        invitationIds.map((invitationId): SendInvitation => ({ invitationId })),
        { tx },
      ),
    );
    const before = worker.reports.length;

    const first = worker.cron();
    await eventually('the first tick fills its cap', () => mail.held === CONCURRENCY);
    expect(mail.maxHeld).toBe(CONCURRENCY);
    const second = worker.cron();
    await eventually('the second tick fills its cap', () => mail.held === 2 * CONCURRENCY);
    expect(await countByStatus()).toEqual({ running: 2 * CONCURRENCY, initialized: 2 });
    expect(new Set(mailedInvitations()).size).toBe(2 * CONCURRENCY);

    mail.release();
    await Promise.all([first, second]);
    const reports = worker.reports.slice(before);
    expect(reports).toHaveLength(2);
    expect(reports.map((report) => report.claimed).reduce((sum, claimed) => sum + claimed)).toBe(total);
    expect(mail.maxHeld).toBe(2 * CONCURRENCY);
    // No task ran twice: one attempt each, one mail each.
    expect(await countByStatus()).toEqual({ succeeded: total });
    expect(
      await database.query('select id from gta_tasks where task_key = $1 and attempts <> 1', [
        SEND_INVITATION,
      ]),
    ).toEqual([]);
    expect(mailedInvitations().sort()).toEqual(invitationIds.map((id) => `invitation-${id}`).sort());
  });

  it('rescues, at a later tick, a task whose invocation was cut short', async () => {
    mail.reset('hold');
    const teamId = await createTeam(1);
    const response = await invite(teamId, ['ada@example.com']);
    const {
      invitations: [invitation],
    } = (await response.json()) as { invitations: { id: number; taskId: number }[] };
    await eventually('the task calls the mail API', () => mail.held === 1);

    // The isolate goes away mid-task, as when Workers cancel work past its limits or evict it.
    await worker.dispose();
    await eventually('the mail call is abandoned', () => mail.abandoned === 1);
    worker = await start();
    mail.release();
    expect(await task(invitation!.taskId)).toMatchObject({ status: 'running', attempts: 1 });

    // While its lease holds, no tick takes the task over.
    expect(await worker.cron()).toMatchObject({ rescued: 0, claimed: 0 });
    await eventually(
      'the lease expires by the database clock',
      async () =>
        (
          await database.query('select id from gta_tasks where id = $1 and lease_expires_at < now()', [
            invitation!.taskId,
          ])
        ).length === 1,
      30_000,
    );
    expect(await worker.cron()).toMatchObject({ rescued: 1, claimed: 1, succeeded: 1 });
    const rescued = await task(invitation!.taskId);
    expect(rescued).toMatchObject({ status: 'succeeded', attempts: 2 });
    expect(rescued.last_error).toMatch(/^lease expired during attempt 1/);
    // The mail API saw the call twice, under one idempotency key: it sends one mail.
    expect(mailedInvitations()).toEqual([`invitation-${invitation!.id}`, `invitation-${invitation!.id}`]);
  });

  it('expires week-old invitations at the nightly schedule’s slot, fired by the minute cron', async () => {
    const [team] = await database.query<{ id: number }>(
      `insert into teams (name, seats, seats_used) values ('Acme', 2, 2) returning id`,
    );
    await database.query(
      `insert into invitations (team_id, email, created_at)
       values ($1, 'old@example.com', now() - interval '8 days'), ($1, 'new@example.com', now())`,
      [team!.id],
    );
    // A tick that sees the schedule for the first time starts it from now. Then, as if no tick had
    // run since before last night's slot:
    await worker.cron();
    await database.query(
      `update gta_tasks_schedules set last_slot = last_slot - interval '1 day' where id = $1`,
      [EXPIRE_INVITATIONS],
    );

    expect(await worker.cron()).toMatchObject({ scheduled: 1, claimed: 1, succeeded: 1, failed: 0 });
    expect(
      await database.query(
        `select task_key, status, attempts, schedule_id, scheduled_for from gta_tasks
         where task_key not like 'gta:%'`,
      ),
    ).toEqual([
      {
        task_key: EXPIRE_INVITATIONS,
        status: 'succeeded',
        attempts: 1,
        schedule_id: EXPIRE_INVITATIONS,
        scheduled_for: lastSlotAt3Utc(),
      },
    ]);
    expect(await database.query('select email from invitations')).toEqual([{ email: 'new@example.com' }]);
    expect(await database.query('select seats_used from teams')).toEqual([{ seats_used: 1 }]);
    // The slot fired once: the next tick has nothing to fire.
    expect(await worker.cron()).toMatchObject({ scheduled: 0, claimed: 0 });
  });

  it('serves the admin app at /admin, behind the admin token', async () => {
    expect((await worker.fetch('/admin/api/stats')).status).toBe(401);
    const stats = await worker.fetch('/admin/api/stats', {
      headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
    });
    expect(stats.status).toBe(200);
    expect(await stats.json()).toMatchObject({ byStatus: { initialized: 0, running: 0 } });
    // The nightly schedule, as an operator sees it.
    const schedules = await worker.fetch('/admin/api/schedules', {
      headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
    });
    expect(await schedules.json()).toMatchObject({
      schedules: [{ id: EXPIRE_INVITATIONS, cron: '0 3 * * *', active: true, paused: false }],
    });
  });
});
