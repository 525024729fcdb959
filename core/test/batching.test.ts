/**
 * Fewer round trips without weaker guarantees: successes written together (each row still fenced
 * by its own lease), claims that ride with them, and ticks that claim ahead of their free slots
 * and give back, unstarted, what they could not start in time. On PGlite and on the real Postgres.
 */
import type { SQL } from 'drizzle-orm';
import { PgDialect } from 'drizzle-orm/pg-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createTaskManager,
  defineTask,
  type SqlExecutor,
  silentLogger,
  type TaskDefinition,
  type TaskManagerOptions,
} from '../src/index.js';
import {
  createPgliteDatabase,
  createPostgresDatabase,
  postgresAvailable,
  type TestDatabase,
} from './support/databases.js';

const hasPostgres = await postgresAvailable();
const dialect = new PgDialect();
let tables = 0;

/** A db that records the text of every statement the manager sends through it. */
function recording(db: any): { db: SqlExecutor; statements: string[] } {
  const statements: string[] = [];
  const wrapped = {
    execute(query: SQL) {
      statements.push(dialect.sqlToQuery(query).sql);
      return db.execute(query);
    },
    transaction: (fn: (tx: any) => Promise<unknown>) => db.transaction(fn),
  };
  return { db: wrapped, statements };
}

const writesSuccess = (text: string) => text.includes("set status = 'succeeded'");
const recordsStarts = (text: string) => text.includes('started as (');
const claims = (text: string) => text.includes('candidates as materialized');
const givesBack = (text: string) => text.includes('attempts = greatest(task.attempts - 1, 0)');

function gate() {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { open, opened };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function eventually(check: () => Promise<boolean> | boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await sleep(10);
  }
}

describe.each([
  { name: 'PGlite', open: createPgliteDatabase, skip: false },
  { name: 'Postgres', open: () => createPostgresDatabase(), skip: !hasPostgres },
])('batched round trips on $name', ({ open, skip }) => {
  let database: TestDatabase;
  beforeAll(async () => {
    if (!skip) database = await open();
  });
  afterAll(async () => {
    await database?.close();
  });

  async function setUp(tasks: TaskDefinition<any, any, any>[], options: Partial<TaskManagerOptions> = {}) {
    const { db, statements } = recording(database.db);
    const manager = createTaskManager({
      db,
      table: `batching_${process.pid}_${tables++}`,
      tasks,
      logger: silentLogger,
      ...options,
    });
    await manager.migrate();
    const enqueue = (task: TaskDefinition<any, any, any>, args: unknown[]) =>
      database.db.transaction((tx: any) => manager.enqueueMany(task, args, { tx }));
    const rows = () =>
      database.query<Record<string, any>>(
        `select * from "${manager.options.table}" where task_key not like 'gta:%' order by id`,
      );
    return { manager, statements, enqueue, rows };
  }

  it.skipIf(skip)('writes a burst of successes together, fencing each row by its own lease', async () => {
    const first = gate();
    const second = gate();
    let running = 0;
    const newTokens: string[] = [];
    const task = defineTask({
      key: 'held',
      handler: async () => {
        running++;
        await first.opened;
      },
    });
    const { manager, statements, enqueue, rows } = await setUp([task]);
    // Another instance on the same table, whose handler for the same key waits on its own gate.
    const other = createTaskManager({
      db: database.db,
      table: manager.options.table,
      logger: silentLogger,
      tasks: [
        defineTask({
          key: 'held',
          handler: async (_: unknown, ctx) => {
            newTokens.push(ctx.task.leaseToken!);
            await second.opened;
          },
        }),
      ],
    });
    const ids = await enqueue(
      task,
      Array.from({ length: 6 }, (_, i) => ({ i })),
    );
    const ticking = manager.tick({ budgetMs: 10_000, concurrency: 6 });
    await eventually(() => running === 6);
    // An operator reruns two of them while they run, and the other instance claims them again:
    // their rows are running under new leases, and the first executors' leases are stale.
    expect(await manager.forceRerunTasks([ids[1]!, ids[4]!], 'running')).toBe(2);
    const otherTicking = other.tick({ budgetMs: 10_000, concurrency: 2 });
    await eventually(() => newTokens.length === 2);
    const before = statements.length;
    first.open();
    const report = await ticking;

    expect(report).toMatchObject({ claimed: 6, succeeded: 4 });
    expect(statements.slice(before).filter(writesSuccess).length).toBeLessThanOrEqual(2);
    const byId = new Map((await rows()).map((row) => [Number(row.id), row]));
    for (const id of ids) {
      const row = byId.get(id)!;
      if (id === ids[1] || id === ids[4]) {
        expect(row.status).toBe('running');
        expect(newTokens).toContain(row.lease_token);
      } else {
        expect(row).toMatchObject({ status: 'succeeded', attempts: 1, lease_token: null });
      }
    }
    second.open();
    expect(await otherTicking).toMatchObject({ claimed: 2, succeeded: 2 });
  });

  it.skipIf(skip)('records mixed outcomes of one tick, each by its own rule', async () => {
    const ok = defineTask({ key: 'ok', handler: () => {} });
    const broken = defineTask({
      key: 'broken',
      handler: () => {
        throw new Error('boom');
      },
    });
    const flaky = defineTask({
      key: 'flaky',
      retryTimes: 1,
      retryInterval: () => 60_000,
      handler: () => {
        throw new Error('again later');
      },
    });
    const tidy = defineTask({ key: 'tidy', cleanSucceeded: true, handler: () => {} });
    const parent = defineTask({
      key: 'parent',
      handler: (_: unknown, ctx) => ctx.enqueue('ok', { child: true }),
    });
    const { manager, enqueue, rows } = await setUp([ok, broken, flaky, tidy, parent]);
    await enqueue(ok, [{}, {}, {}]);
    await enqueue(broken, [{}]);
    await enqueue(flaky, [{}]);
    const [tidyId] = await enqueue(tidy, [{}]);
    await enqueue(parent, [{}]);

    const report = await manager.tick({ budgetMs: 10_000, concurrency: 10 });

    // ok ×3, tidy, parent and its child succeed; broken fails; flaky is retried later.
    expect(report).toMatchObject({ claimed: 8, succeeded: 6, failed: 1, retried: 1 });
    const stored = await rows();
    expect(stored.find((row) => Number(row.id) === tidyId)).toBeUndefined();
    const byKey = (key: string) => stored.filter((row) => row.task_key === key).map((row) => row.status);
    expect(byKey('ok')).toEqual(['succeeded', 'succeeded', 'succeeded', 'succeeded']);
    expect(byKey('broken')).toEqual(['failed']);
    expect(byKey('flaky')).toEqual(['initialized']);
    expect(byKey('parent')).toEqual(['succeeded']);
    expect(stored.find((row) => row.task_key === 'flaky')?.last_error).toContain('again later');
  });

  it.skipIf(skip)('claims quick tasks in batches, many per statement', async () => {
    const task = defineTask({ key: 'quick', handler: () => {} });
    const { manager, statements, enqueue } = await setUp([task]);
    await enqueue(
      task,
      Array.from({ length: 80 }, (_, i) => ({ i })),
    );
    const before = statements.length;
    const report = await manager.tick({ budgetMs: 30_000, concurrency: 1 });
    expect(report.succeeded).toBe(80);
    const sent = statements.slice(before);
    // One slot, yet far fewer claims than tasks: the tick queues claimed tasks ahead of the slot.
    expect(sent.filter(claims).length).toBeLessThan(40);
    expect(sent.filter(writesSuccess).length).toBeLessThan(40);
  });

  // Guarantee: a quick task's start is written by its success's statement, never by one of its own.
  it.skipIf(skip)(
    'writes the start of a quick task with its success, in no statement of its own',
    async () => {
      const task = defineTask({ key: 'quick-start', handler: () => {} });
      const { manager, statements, enqueue, rows } = await setUp([task]);
      await enqueue(
        task,
        Array.from({ length: 60 }, (_, i) => ({ i })),
      );
      const before = statements.length;
      const report = await manager.tick({ budgetMs: 30_000, concurrency: 10 });
      expect(report.succeeded).toBe(60);
      expect(statements.slice(before).filter(recordsStarts)).toEqual([]);
      const stored = (await rows()).filter((row) => row.task_key === 'quick-start');
      expect(stored).toHaveLength(60);
      for (const row of stored) {
        expect(row.started_at).not.toBeNull();
        expect(new Date(row.started_at).getTime()).toBeLessThanOrEqual(new Date(row.finished_at).getTime());
      }
    },
  );

  it.skipIf(skip)('writes cleanSucceeded successes in the shared batch, deleting their rows', async () => {
    const tidy = defineTask({ key: 'tidy-many', cleanSucceeded: true, handler: () => {} });
    const kept = defineTask({ key: 'kept-many', handler: () => {} });
    const { manager, statements, enqueue, rows } = await setUp([tidy, kept]);
    await enqueue(
      tidy,
      Array.from({ length: 60 }, (_, i) => ({ i })),
    );
    const keptIds = await enqueue(
      kept,
      Array.from({ length: 20 }, (_, i) => ({ i })),
    );
    const before = statements.length;
    const report = await manager.tick({ budgetMs: 30_000, concurrency: 2 });
    expect(report).toMatchObject({ claimed: 80, succeeded: 80 });
    const stored = await rows();
    expect(stored.map((row) => Number(row.id)).sort((a, b) => a - b)).toEqual(keptIds);
    expect(stored.every((row) => row.status === 'succeeded')).toBe(true);
    const deletes = statements.slice(before).filter((text) => text.includes('delete from'));
    expect(deletes.length).toBeGreaterThan(0);
    expect(deletes.length).toBeLessThan(30);
  });

  it.skipIf(skip)(
    'gives back, unstarted, the tasks it claimed ahead but could not start within its budget',
    async () => {
      const started: number[] = [];
      const task = defineTask({
        key: 'mostly-quick',
        handler: async ({ i }: { i: number }) => {
          started.push(i);
          // The slow one outlasts the budget while claimed tasks wait behind it in the queue.
          if (i === 20) await sleep(1200);
        },
      });
      const { manager, statements, enqueue, rows } = await setUp([task]);
      await enqueue(
        task,
        Array.from({ length: 40 }, (_, i) => ({ i })),
      );

      const first = await manager.tick({ budgetMs: 600, concurrency: 1 });

      expect(first.claimed).toBe(started.length);
      expect(first.succeeded).toBe(started.length);
      const after = await rows();
      expect(after.filter((row) => row.status === 'running')).toEqual([]);
      // A row given back was updated after its insert; one never claimed was not.
      const givenBack = after.filter(
        (row) => row.status === 'initialized' && Number(row.updated_at) > Number(row.created_at),
      );
      expect(givenBack.length).toBeGreaterThan(0);
      expect(statements.some(givesBack)).toBe(true);
      for (const row of givenBack) {
        expect(row).toMatchObject({
          attempts: 0,
          lease_token: null,
          lease_expires_at: null,
          last_error: null,
          started_at: null,
        });
      }

      const rest = await manager.tick({ budgetMs: 30_000, concurrency: 1 });
      expect(first.succeeded + rest.succeeded).toBe(40);
      // Every task ran once, and counted one attempt: the claims given back were not counted.
      expect(new Set(started).size).toBe(40);
      expect((await rows()).map((row) => row.attempts)).toEqual(Array.from({ length: 40 }, () => 1));
    },
  );

  it.skipIf(skip)('gives back a claimed task that waited longer than its lease allows', async () => {
    const started: number[] = [];
    const task = defineTask({
      key: 'blocked',
      handler: async ({ i }: { i: number }) => {
        started.push(i);
        if (i === 20) await sleep(1500);
      },
    });
    const { manager, statements, enqueue, rows } = await setUp([task]);
    await enqueue(
      task,
      Array.from({ length: 30 }, (_, i) => ({ i })),
    );
    // While task 20 blocks the only slot, the tasks queued behind it pass their allowance of 1 s:
    // they are given back, claimed again, and run once each.
    const report = await manager.tick({ budgetMs: 30_000, concurrency: 1 });
    expect(report.succeeded).toBe(30);
    expect(statements.some(givesBack)).toBe(true);
    expect(new Set(started).size).toBe(30);
    expect((await rows()).map((row) => row.attempts)).toEqual(Array.from({ length: 30 }, () => 1));
  });
});
