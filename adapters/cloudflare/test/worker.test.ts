/**
 * The adapter's contract in workerd, on the fixture worker (a plain `fetch` handler on `handle`,
 * reaching its manager with `getManager`), through both ways a worker reaches Postgres: the Neon
 * driver over the local WebSocket proxy, and Miniflare's Hyperdrive binding with node-postgres.
 * Its `hold` task waits on a gate the test holds and releases.
 */
import type { HandleOptions } from '@gta/cloudflare';
import { createTaskManager, defineTask, type SqlExecutor } from '@gta/core';
import * as neonProxy from '@gta/neon-proxy';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  createPostgresDatabase,
  postgresAvailable,
  type TestDatabase,
} from '../../../core/test/support/databases.js';
import { type Gate, startGate } from './support/gate.js';
import { FIXTURE_WORKER } from './support/paths.js';
import { eventually, sleep } from './support/poll.js';
import { type RunningWorker, startWorker } from './support/worker.js';

const hasPostgres = await postgresAvailable();

type Driver = 'neon' | 'hyperdrive';

/** Hyperdrive refuses a connection string without a password; the local server trusts 127.0.0.1, so any will do. */
function hyperdriveTo(url: string): string {
  const withPassword = new URL(url);
  withPassword.password = 'trusted';
  return withPassword.toString();
}

describe.skipIf(!hasPostgres).each<Driver>(['neon', 'hyperdrive'])(
  'handle() in workerd, through %s',
  (driver) => {
    let database: TestDatabase;
    let proxy: neonProxy.NeonProxy;
    let gate: Gate;
    const workers: RunningWorker[] = [];

    /** A fixture worker with the `handle` options of one test, and more vars if it needs them. */
    async function start(
      options: HandleOptions = {},
      vars: Record<string, string> = {},
    ): Promise<RunningWorker> {
      const bindings = { ...vars, GATE_URL: gate.url, HANDLE_OPTIONS: JSON.stringify(options) };
      const worker = await startWorker(
        driver === 'neon'
          ? {
              worker: FIXTURE_WORKER,
              bindings: {
                ...bindings,
                DATABASE_URL: database.url!,
                NEON_WS_PROXY: `127.0.0.1:${proxy.port}/v2`,
              },
            }
          : { worker: FIXTURE_WORKER, bindings, hyperdrives: { HYPERDRIVE: hyperdriveTo(database.url!) } },
      );
      workers.push(worker);
      return worker;
    }

    beforeAll(async () => {
      database = await createPostgresDatabase();
      proxy = await neonProxy.start({ postgresUrl: database.url! });
      gate = await startGate();
      const worker = await start();
      expect((await worker.fetch('/migrate', { method: 'POST' })).status).toBe(200);
    });
    afterAll(async () => {
      for (const worker of workers) await worker.dispose();
      await gate?.close();
      await proxy?.close();
      await database?.close();
    });
    beforeEach(async () => {
      await database.exec('truncate gta_tasks restart identity');
    });

    const statuses = async () => {
      const rows = await database.query<{ status: string; count: number }>(
        `select status, count(*)::int as count from gta_tasks where task_key = 'hold' group by status`,
      );
      return Object.fromEntries(rows.map((row) => [row.status, row.count]));
    };
    const task = async (id: number) =>
      (
        await database.query<{ status: string; attempts: number; last_error: string | null }>(
          'select status, attempts, last_error from gta_tasks where id = $1',
          [id],
        )
      )[0]!;
    /** `count` tasks enqueued by another process, in a transaction of its own: only a tick runs them. */
    async function enqueueElsewhere(count: number): Promise<void> {
      const manager = createTaskManager({
        db: database.db,
        tasks: [defineTask({ key: 'hold', handler: () => {} })],
      });
      await database.db.transaction((tx: SqlExecutor) =>
        manager.enqueueMany(
          'hold',
          Array.from({ length: count }, () => ({})),
          { tx },
        ),
      );
    }
    const enqueue = async (worker: RunningWorker) => {
      const response = await worker.fetch('/enqueue', { method: 'POST' });
      expect(response.status).toBe(200);
      return ((await response.json()) as { id: number }).id;
    };

    // Through Hyperdrive, a task left out of waitUntil is cut off at the response and this fails;
    // the Neon driver's open WebSocket keeps workerd running it anyway.
    it('starts a committed task after the response, through the request’s waitUntil', async () => {
      gate.reset('hold');
      const worker = await start();
      const id = await enqueue(worker);
      expect((await task(id)).status).not.toBe('succeeded');
      await eventually('the task reaches the gate', () => gate.held === 1);
      expect(await task(id)).toMatchObject({ status: 'running', attempts: 1 });
      gate.release();
      await eventually('the task succeeds', async () => (await task(id)).status === 'succeeded');
    });

    it('stops claiming once the tick’s budget is spent, never running more than its cap', async () => {
      gate.reset('hold');
      const worker = await start({ maxBudgetMs: 1_000, concurrency: 2 });
      await enqueueElsewhere(5);
      const tick = worker.cron();
      await eventually('the tick fills its cap', () => gate.held === 2);
      // Past the budget while the two tasks still run: when they finish, the tick claims no more.
      await sleep(1_200);
      gate.release();
      expect(await tick).toMatchObject({ claimed: 2, succeeded: 2 });
      expect(gate.maxHeld).toBe(2);
      expect(await statuses()).toEqual({ succeeded: 2, initialized: 3 });

      // Released, the tasks finish at once, and the next tick runs the rest within its budget.
      expect(await worker.cron()).toMatchObject({ claimed: 3, succeeded: 3 });
      expect(await statuses()).toEqual({ succeeded: 5 });
    });

    it('hands a task still running when Workers would cancel it back to the table', async () => {
      gate.reset('hold');
      // Workers would cancel the waitUntil work 1.5 s after the response: the manager stops at 1 s.
      const worker = await start({ waitUntilMs: 1_500, safetyMarginMs: 500 });
      const id = await enqueue(worker);
      await eventually('the task reaches the gate', () => gate.held === 1);
      await eventually('the task is released', async () => (await task(id)).status === 'initialized');
      expect(await task(id)).toMatchObject({ attempts: 0, last_error: expect.stringMatching(/^released/) });
      // Its handler was aborted too: the call it was making was given up.
      await eventually('the gate call is abandoned', () => gate.abandoned === 1);

      gate.release();
      expect(await worker.cron()).toMatchObject({ claimed: 1, succeeded: 1 });
      expect(await task(id)).toMatchObject({ status: 'succeeded', attempts: 1 });
    });

    it('fires a schedule that came due at the cron event, and runs its task in the same tick', async () => {
      gate.reset('pass');
      const worker = await start({}, { SCHEDULE_CRON: '* * * * * *' });
      // The first tick to see a schedule starts it from now: it records the schedule and fires nothing.
      expect(await worker.cron()).toMatchObject({ scheduled: 0, claimed: 0 });
      expect(gate.arrivals).toEqual([]);

      // A slot (a whole second) passes before the next event, which fires it.
      await sleep(1_100);
      expect(await worker.cron()).toMatchObject({ scheduled: 1, claimed: 1, succeeded: 1, failed: 0 });
      const fired = await database.query<{ status: string; attempts: number; scheduled_for: Date }>(
        `select status, attempts, scheduled_for from gta_tasks where task_key = 'beat' and schedule_id = 'beat'`,
      );
      expect(fired).toEqual([{ status: 'succeeded', attempts: 1, scheduled_for: expect.any(Date) }]);
      const slot = fired[0]!.scheduled_for;
      expect(slot.getMilliseconds()).toBe(0);
      // The handler saw the slot its row records.
      expect(gate.arrivals.map((arrival) => [arrival.path, JSON.parse(arrival.body)])).toEqual([
        ['/beat', { scheduledFor: slot.toISOString() }],
      ]);
    });
  },
);

describe.skipIf(!hasPostgres)('handleCron() in workerd', () => {
  it('fails the cron event, and logs why, when the tick cannot run', async () => {
    const worker = await startWorker({
      worker: FIXTURE_WORKER,
      bindings: { GATE_URL: 'http://127.0.0.1:9' },
      hyperdrives: { HYPERDRIVE: hyperdriveTo('postgres://postgres@127.0.0.1:5432/gta_no_such_database') },
    });
    try {
      await expect(worker.cron()).rejects.toThrow(/the cron event ended with exception/);
      expect(worker.output.join('\n')).toMatch(
        /\[gta\] error cron tick failed .*"causes":\[.*gta_no_such_database/,
      );
    } finally {
      await worker.dispose();
    }
  });
});
