/**
 * Scanners on separate connections (as separate invocations would be) ticking one table at the same
 * time, on every driver that has several connections. Claiming and completing are one statement
 * each, so this holds on neon-http too, where no statement shares a transaction with another: every
 * task runs exactly once and succeeds.
 */
import { createTaskManager, defineTask, silentLogger, type TaskManager } from '@gta/core';
import { afterAll, beforeAll, describe, expect } from 'vitest';
import { itNeeding } from '../../core/test/semantics/driver.js';
import {
  type DriverConnection,
  postgresAvailable,
  type TestDatabase,
} from '../../core/test/support/databases.js';
import { ALL_DRIVERS, type PostgresDriver, pglite } from '../support/drivers.js';

const hasPostgres = await postgresAvailable();

const INSTANCES = 3;
const TASKS = 90;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** One instance's cron: ticks until no task is left unfinished (or `deadline`); returns how many it claimed. */
async function scanUntilDrained(manager: TaskManager, deadline: number): Promise<number> {
  let claimed = 0;
  while (Date.now() < deadline) {
    const report = await manager.tick({ budgetMs: 5000, concurrency: 5 });
    claimed += report.claimed;
    if (report.claimed > 0) continue;
    const { byStatus } = await manager.stats();
    if (byStatus.initialized + byStatus.running === 0) break;
    // Others still hold tasks: look again soon, at a random moment so the instances interleave.
    await sleep(Math.random() * 20);
  }
  return claimed;
}

for (const driver of ALL_DRIVERS) {
  describe.skipIf(driver !== pglite && !hasPostgres)(`concurrent scanners on ${driver.name}`, () => {
    let database: TestDatabase;
    const connections: DriverConnection[] = [];
    beforeAll(async () => {
      database = await driver.open();
    });
    afterAll(async () => {
      await Promise.all(connections.map((connection) => connection.close()));
      await database?.close();
    });

    itNeeding(driver, 'concurrentSessions')(
      `${INSTANCES} instances ticking at once run each of ${TASKS} tasks exactly once`,
      async () => {
        const runs = new Map<number, number>();
        const task = defineTask({
          key: 'counted',
          handler: async (_arg: unknown, ctx) => {
            runs.set(ctx.task.id, (runs.get(ctx.task.id) ?? 0) + 1);
            await sleep(20);
          },
        });
        for (let i = 1; i < INSTANCES; i++)
          connections.push(await (driver as PostgresDriver).connect(database.url!));
        const managers: TaskManager[] = [database.db, ...connections.map((connection) => connection.db)].map(
          (db) => createTaskManager({ db, tasks: [task], logger: silentLogger }),
        );
        await managers[0]!.migrate();
        // Enqueued by an invocation whose commit hook never starts anything (its root signal is
        // aborted, as when it is cut short), so only the scanners run these tasks.
        const cutShort = createTaskManager({
          db: database.db,
          tasks: [task],
          logger: silentLogger,
          signal: AbortSignal.abort(),
        });
        const ids = await cutShort.enqueueMany(
          task,
          Array.from({ length: TASKS }, () => ({})),
        );
        const deadline = Date.now() + 20_000;
        const claimedPerInstance = await Promise.all(
          managers.map((manager) => scanUntilDrained(manager, deadline)),
        );
        expect([...runs.keys()].sort((a, b) => a - b)).toEqual(ids);
        expect([...runs.values()].every((count) => count === 1)).toBe(true);
        expect(claimedPerInstance.reduce((sum, claimed) => sum + claimed, 0)).toBe(TASKS);
        // The scanners really overlapped: more than one of them claimed tasks.
        expect(claimedPerInstance.filter((claimed) => claimed > 0).length).toBeGreaterThan(1);
        expect((await managers[0]!.stats()).byStatus).toMatchObject({
          succeeded: TASKS,
          initialized: 0,
          running: 0,
        });
      },
    );
  });
}
