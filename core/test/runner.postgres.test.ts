/**
 * The long-lived runner on the real Postgres: it claims ahead as a cron tick does, so a backlog of
 * quick tasks costs few claims (before, one claim per free slot every instantScanInterval capped a
 * runner near 100 tasks a second).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTaskManager, defineTask, migrate, silentLogger } from '../src/index.js';
import { sleep, within } from './support/concurrency.js';
import { createPostgresDatabase, postgresAvailable, type TestDatabase } from './support/databases.js';
import { gatedDb, isClaim } from './support/gated-db.js';

const hasPostgres = await postgresAvailable();

describe.skipIf(!hasPostgres)('the runner', () => {
  let database: TestDatabase;
  beforeAll(async () => {
    database = await createPostgresDatabase();
  });
  afterAll(() => database?.close());

  it('drains a backlog of quick tasks with claims of many tasks each, not one claim per free slot', async () => {
    const gated = gatedDb(database.db);
    let claims = 0;
    gated.hook = (text) => {
      if (isClaim(text)) claims++;
    };
    let done = 0;
    const task = defineTask({ key: 'quick', handler: () => void done++ });
    const manager = createTaskManager({
      db: gated.db,
      table: 'runner',
      tasks: [task],
      logger: silentLogger,
      concurrency: 2,
      scanInterval: 1000,
      instantScanInterval: 100,
    });
    await migrate(database.db, { table: 'runner' });
    await database.db.transaction((tx: any) =>
      manager.enqueueMany(
        task,
        Array.from({ length: 1000 }, (_, n) => ({ n })),
        { tx },
      ),
    );
    manager.start();
    await within(
      20_000,
      'the backlog drained',
      (async () => {
        while (done < 1000) await sleep(10);
      })(),
    );
    await manager.stop();
    // One claim per free slot would be 500 claims; a claim ahead serves dozens of tasks.
    expect(claims).toBeLessThan(50);
    const [row] = await database.query<{ count: number }>(
      `select count(*)::int as count from runner where status = 'succeeded' and task_key not like 'gta:%'`,
    );
    expect(row!.count).toBe(1000);
  });
});
