/**
 * Flow control on the real Postgres (SPEC §13), each rule stated in its test's name.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTaskManager, defineTask, migrate, silentLogger } from '../src/index.js';
import { sleep, waitUntilCollector, within } from './support/concurrency.js';
import { createPostgresDatabase, postgresAvailable, type TestDatabase } from './support/databases.js';

const hasPostgres = await postgresAvailable();

describe.skipIf(!hasPostgres)('priorities', () => {
  let database: TestDatabase;
  beforeAll(async () => {
    database = await createPostgresDatabase();
  });
  afterAll(() => database?.close());

  it('a backlog of low-priority tasks delays a high-priority one by no more than what was already claimed', async () => {
    const starts: string[] = [];
    let highCommitted = false;
    let lowAfterCommit = 0;
    const low = defineTask({
      key: 'low',
      handler: async () => {
        starts.push('low');
        if (highCommitted) lowAfterCommit++;
        await sleep(1);
      },
    });
    const high = defineTask({ key: 'high', priority: 10, handler: () => void starts.push('high') });
    const manager = createTaskManager({
      db: database.db,
      table: 'prio',
      tasks: [low, high],
      logger: silentLogger,
      concurrency: 2,
    });
    await migrate(database.db, { table: 'prio' });
    await database.db.transaction(async (tx: any) => {
      for (let start = 0; start < 3000; start += 500) {
        await manager.enqueueMany(
          low,
          Array.from({ length: 500 }, (_, n) => ({ n: start + n })),
          { tx },
        );
      }
    });
    const collector = waitUntilCollector();
    const ticking = manager.tick({ budgetMs: 20_000, concurrency: 2, waitUntil: collector.waitUntil });
    await within(
      10_000,
      '300 low-priority starts',
      (async () => {
        while (starts.length < 300) await sleep(2);
      })(),
    );
    await database.db.transaction((tx: any) => manager.enqueue(high, {}, { tx }));
    highCommitted = true;
    // What a tick had claimed by then (claimed ahead or running) may start first; nothing later may.
    const [held] = await database.query<{ count: number }>(
      `select count(*)::int as count from prio where status = 'running' and task_key = 'low'`,
    );
    await within(
      10_000,
      'the high-priority start',
      (async () => {
        while (!starts.includes('high')) await sleep(2);
      })(),
    );
    expect(lowAfterCommit).toBeLessThanOrEqual(held!.count);
    await ticking;
    await collector.settled();
  });
});
