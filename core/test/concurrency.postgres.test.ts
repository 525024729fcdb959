/**
 * Concurrency on the real Postgres: several managers, each on its own connection pool as separate
 * instances would be, claiming, rescuing and completing tasks in one table at the same time. Only
 * outcomes are asserted (each task once, fenced stale holders, disjoint claims, sequence order);
 * speeds are printed for information, never checked.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createTaskManager,
  defineTask,
  migrate,
  migrationStatements,
  type SqlExecutor,
  silentLogger,
  type TaskDefinition,
  type TaskManager,
  type TaskManagerOptions,
} from '../src/index.js';
import {
  closeDatabase,
  createExecutionsTable,
  ExecutionTracker,
  Gate,
  Pools,
  recordingLogger,
  sleep,
  tickUntilDrained,
  totals,
  unfinishedCount,
  waitUntilCollector,
  within,
} from './support/concurrency.js';
import { createPostgresDatabase, postgresAvailable, type TestDatabase } from './support/databases.js';

const hasPostgres = await postgresAvailable();

const HOUR = 3_600_000;

/** A manager for instance `db` with the suite's defaults. */
function instance(
  db: SqlExecutor,
  tasks: TaskDefinition<any, any, any>[],
  options: Partial<TaskManagerOptions> = {},
) {
  return createTaskManager({ db, tasks, logger: silentLogger, ...options });
}

/**
 * Enqueues in a transaction the manager did not open, so the commit hook does not run the tasks:
 * they stay `initialized` for the scanners under test.
 */
async function enqueueForScanners(
  database: TestDatabase,
  manager: TaskManager,
  task: TaskDefinition<any, any, any>,
  args: unknown[],
  options: { chunk?: number; sequenceKey?: (index: number) => string } = {},
): Promise<number[]> {
  const ids: number[] = [];
  const chunk = options.chunk ?? 500;
  await database.db.transaction(async (tx: any) => {
    if (options.sequenceKey) {
      for (const [index, arg] of args.entries()) {
        ids.push(await manager.enqueue(task, arg, { tx, sequenceKey: options.sequenceKey(index) }));
      }
      return;
    }
    for (let start = 0; start < args.length; start += chunk) {
      ids.push(...(await manager.enqueueMany(task, args.slice(start, start + chunk), { tx })));
    }
  });
  return ids;
}

async function statusCounts(database: TestDatabase): Promise<Record<string, number>> {
  const rows = await database.query<{ status: string; count: number }>(
    `select status, count(*)::int as count from gta_tasks where task_key not like 'gta:%' group by status`,
  );
  return Object.fromEntries(rows.map((row) => [row.status, row.count]));
}

describe.skipIf(!hasPostgres)('8 concurrent tick loops on one table', () => {
  const TASKS = 5000;
  const INSTANCES = 8;
  const pools = new Pools();
  let database: TestDatabase;

  beforeAll(async () => {
    database = await createPostgresDatabase({ poolSize: 4 });
    await migrate(database.db);
    await createExecutionsTable(database);
  });

  afterAll(async () => {
    await pools.close();
    await closeDatabase(database);
  });

  it('drain 5,000 tasks, each executed exactly once by one lease holder', { timeout: 150_000 }, async () => {
    const tracker = new ExecutionTracker();
    const drainTask = (name: string, pool: { query(text: string, params: unknown[]): Promise<unknown> }) =>
      defineTask({
        key: 'drain',
        handler: async (_arg: { n: number }, ctx) => {
          const { id, leaseToken } = ctx.task;
          const startedAt = new Date();
          tracker.start(id, name);
          try {
            await pool.query(
              `insert into executions (task_id, lease_token, attempt, instance, started_at, finished_at)
               values ($1, $2, $3, $4, $5, now())`,
              [id, leaseToken, ctx.attempt, name, startedAt],
            );
          } finally {
            tracker.end(id, name);
          }
        },
      });

    const onEnqueuer = drainTask('enqueuer', database.db.$client);
    const enqueuer = instance(database.db, [onEnqueuer]);
    const args = Array.from({ length: TASKS }, (_, n) => ({ n }));
    const ids = await enqueueForScanners(database, enqueuer, onEnqueuer, args);
    expect(new Set(ids).size).toBe(TASKS);
    expect(await statusCounts(database)).toEqual({ initialized: TASKS });

    const managers = Array.from({ length: INSTANCES }, (_, index) => {
      const { pool, db } = pools.open(database.url!, 4);
      return instance(db, [drainTask(`instance-${index}`, pool)], { concurrency: 10 });
    });
    const started = Date.now();
    const reports = await Promise.all(
      managers.map((manager) =>
        tickUntilDrained(manager, database, {
          tick: { budgetMs: 2000, concurrency: 10 },
          deadline: started + 120_000,
          pauseMs: 20,
        }),
      ),
    );
    const seconds = (Date.now() - started) / 1000;
    console.log(
      `[concurrency] ${INSTANCES} tick loops drained ${TASKS} tasks in ${seconds.toFixed(2)} s: ` +
        `${Math.round(TASKS / seconds)} tasks/s (${reports.flat().length} ticks)`,
    );

    expect(await unfinishedCount(database)).toBe(0);
    expect(await statusCounts(database)).toEqual({ succeeded: TASKS });
    expect(tracker.overlaps).toEqual([]);
    expect(Math.max(...tracker.peakByInstance.values())).toBeLessThanOrEqual(10);
    expect(totals(reports.flat())).toEqual({
      claimed: TASKS,
      succeeded: TASKS,
      failed: 0,
      retried: 0,
      rescued: 0,
    });

    // A lease is the pair (task id, token); the rows of one claim statement share its token.
    const [executions] = await database.query<{ total: number; tasks: number; leases: number }>(
      `select count(*)::int as total, count(distinct task_id)::int as tasks,
         count(distinct (task_id, lease_token))::int as leases
       from executions`,
    );
    expect(executions).toEqual({ total: TASKS, tasks: TASKS, leases: TASKS });
    const anomalies = await database.query(
      `select t.id, t.status, t.attempts, t.lease_token, count(e.task_id)::int as executions
       from gta_tasks t left join executions e on e.task_id = t.id
       where t.task_key = 'drain'
       group by t.id
       having count(e.task_id) <> 1 or t.attempts <> 1 or t.status <> 'succeeded' or t.lease_token is not null
       limit 10`,
    );
    expect(anomalies).toEqual([]);
    const instancesUsed = new Set(tracker.events.map((event) => event.instance));
    expect(instancesUsed.size).toBeGreaterThan(1);
  });
});

describe.skipIf(!hasPostgres)('a handler that outlives its lease', () => {
  const pools = new Pools();
  let database: TestDatabase;

  beforeAll(async () => {
    database = await createPostgresDatabase({ poolSize: 4 });
    await migrate(database.db);
    await createExecutionsTable(database);
  });

  afterAll(async () => {
    await pools.close();
    await closeDatabase(database);
  });

  async function record(
    taskId: number,
    leaseToken: string,
    attempt: number,
    name: string,
    seenError: string | null,
  ) {
    await database.query(
      `insert into executions (task_id, lease_token, attempt, instance, seen_error, started_at)
       values ($1, $2, $3, $4, $5, now())`,
      [taskId, leaseToken, attempt, name, seenError],
    );
  }

  /** A lease is the pair (task id, token): one claim statement gives its tasks one token. */
  async function recordFinish(taskId: number, leaseToken: string) {
    await database.query(
      'update executions set finished_at = now() where task_id = $1 and lease_token = $2',
      [taskId, leaseToken],
    );
  }

  const taskRow = async (id: number) =>
    (await database.query<Record<string, unknown>>('select * from gta_tasks where id = $1', [id]))[0];
  /** Waits until the start of the task's running attempt is recorded, just after its handler started. */
  const startRecorded = (id: number) =>
    within(
      5000,
      'the start record',
      (async () => {
        while ((await taskRow(id))?.started_at === null) await sleep(5);
      })(),
    );

  it.each(['completes', 'fails'] as const)(
    'is rescued and run once more; when the stale holder %s late, it is fenced out',
    { timeout: 30_000 },
    async (lateOutcome) => {
      const key = `outlives-lease-${lateOutcome}`;
      const aStarted = new Gate();
      const aRelease = new Gate();
      const aFinished = new Gate();
      const aLogger = recordingLogger();
      // One retry: the rescue spends attempt 1, so the task must have a second attempt to rerun.
      const slowOnA = defineTask({
        key,
        retryTimes: 1,
        handler: async (_arg: Record<string, never>, ctx) => {
          await record(ctx.task.id, ctx.task.leaseToken!, ctx.attempt, 'A', ctx.task.lastError);
          aStarted.open();
          await aRelease.opened;
          await recordFinish(ctx.task.id, ctx.task.leaseToken!);
          aFinished.open();
          if (lateOutcome === 'fails') throw new Error('the stale holder failed after its lease was rescued');
        },
      });
      const fastOnB = defineTask({
        key,
        retryTimes: 1,
        handler: async (_arg: Record<string, never>, ctx) => {
          await record(ctx.task.id, ctx.task.leaseToken!, ctx.attempt, 'B', ctx.task.lastError);
          await recordFinish(ctx.task.id, ctx.task.leaseToken!);
        },
      });
      const a = pools.open(database.url!, 2);
      const b = pools.open(database.url!, 2);
      const managerA = instance(a.db, [slowOnA], { logger: aLogger, taskTimeout: 10_000, leaseMargin: 50 });
      // One hour ahead: from B's point of view A's lease (10 s + 50 ms) expired long ago.
      const managerB = instance(b.db, [fastOnB], { clock: () => new Date(Date.now() + HOUR) });

      const [id] = await enqueueForScanners(database, managerA, slowOnA, [{}]);
      const background = waitUntilCollector();
      const tickA = await managerA.tick({ budgetMs: 200, waitUntil: background.waitUntil });
      expect(tickA.claimed).toBe(1);
      await within(5000, "A's attempt starting", aStarted.opened);
      await startRecorded(id!);
      const claimedByA = await taskRow(id!);
      expect(claimedByA).toMatchObject({ status: 'running', attempts: 1 });
      expect(claimedByA!.lease_token).toEqual(expect.any(String));

      const tickB = await managerB.tick({ budgetMs: 5000 });
      expect(tickB).toMatchObject({ rescued: 1, claimed: 1, succeeded: 1, failed: 0, retried: 0 });
      const afterB = await taskRow(id!);
      expect(afterB).toMatchObject({
        status: 'succeeded',
        attempts: 2,
        lease_token: null,
        lease_expires_at: null,
      });
      expect((afterB!.finished_at as Date).getTime()).toBeGreaterThan(Date.now() + HOUR / 2);

      aRelease.open();
      await within(5000, "A's late finish", aFinished.opened);
      await within(5000, "A's background work settling", background.settled());

      expect(await taskRow(id!)).toEqual(afterB);
      const executions = await database.query<Record<string, unknown>>(
        'select * from executions where task_id = $1 order by attempt',
        [id],
      );
      expect(executions).toHaveLength(2);
      expect(executions.map((row) => [row.instance, row.attempt])).toEqual([
        ['A', 1],
        ['B', 2],
      ]);
      expect(executions[0]!.lease_token).toBe(claimedByA!.lease_token);
      expect(executions[1]!.lease_token).not.toBe(claimedByA!.lease_token);
      expect(executions.every((row) => row.finished_at !== null)).toBe(true);
      // B's attempt was claimed right after the rescue, which recorded why the first attempt ended.
      expect(executions[1]!.seen_error).toMatch(/lease expired during attempt 1/);
      expect(aLogger.entries).toContainEqual(
        expect.objectContaining({ level: 'warn', message: expect.stringMatching(/lease lost/) }),
      );
    },
  );

  it('finishing while the rescuer still holds the lease, the stale holder is fenced out by the token', async () => {
    const key = 'outlives-lease-while-rerun';
    const aStarted = new Gate();
    const aRelease = new Gate();
    const aFinished = new Gate();
    const bStarted = new Gate();
    const bRelease = new Gate();
    const aLogger = recordingLogger();
    const heldOn = (name: string, started: Gate, release: Gate, finished?: Gate) =>
      defineTask({
        key,
        retryTimes: 1,
        handler: async (_arg: Record<string, never>, ctx) => {
          await record(ctx.task.id, ctx.task.leaseToken!, ctx.attempt, name, ctx.task.lastError);
          started.open();
          await release.opened;
          await recordFinish(ctx.task.id, ctx.task.leaseToken!);
          finished?.open();
        },
      });
    const slowOnA = heldOn('A', aStarted, aRelease, aFinished);
    const managerA = instance(pools.open(database.url!, 2).db, [slowOnA], {
      logger: aLogger,
      taskTimeout: 10_000,
      leaseMargin: 50,
    });
    const managerB = instance(pools.open(database.url!, 2).db, [heldOn('B', bStarted, bRelease)], {
      clock: () => new Date(Date.now() + HOUR),
    });

    const [id] = await enqueueForScanners(database, managerA, slowOnA, [{}]);
    const backgroundA = waitUntilCollector();
    expect((await managerA.tick({ budgetMs: 200, waitUntil: backgroundA.waitUntil })).claimed).toBe(1);
    await within(5000, "A's attempt starting", aStarted.opened);
    await startRecorded(id!);

    const backgroundB = waitUntilCollector();
    const tickB = await managerB.tick({ budgetMs: 200, waitUntil: backgroundB.waitUntil });
    expect(tickB).toMatchObject({ rescued: 1, claimed: 1 });
    await within(5000, "B's attempt starting", bStarted.opened);
    await startRecorded(id!);
    const heldByB = await taskRow(id!);
    expect(heldByB).toMatchObject({ status: 'running', attempts: 2 });

    // A completes while the row is `running` again: only the lease token tells the holders apart.
    aRelease.open();
    await within(5000, "A's late finish", aFinished.opened);
    await within(5000, "A's background work settling", backgroundA.settled());
    expect(await taskRow(id!)).toEqual(heldByB);
    expect(aLogger.entries).toContainEqual(
      expect.objectContaining({ level: 'warn', message: expect.stringMatching(/lease lost/) }),
    );

    bRelease.open();
    await within(5000, "B's background work settling", backgroundB.settled());
    expect(await taskRow(id!)).toMatchObject({ status: 'succeeded', attempts: 2, lease_token: null });
    const executions = await database.query<Record<string, unknown>>(
      'select instance, attempt, finished_at is not null as finished from executions where task_id = $1 order by attempt',
      [id],
    );
    expect(executions).toEqual([
      { instance: 'A', attempt: 1, finished: true },
      { instance: 'B', attempt: 2, finished: true },
    ]);
  });
});

describe.skipIf(!hasPostgres)('concurrent migrate', () => {
  const pools = new Pools();
  let database: TestDatabase;

  beforeAll(async () => {
    database = await createPostgresDatabase({ poolSize: 2 });
  });

  afterAll(async () => {
    await pools.close();
    await closeDatabase(database);
  });

  it('8 instances migrating one fresh database at once create the table once', async () => {
    const instances = Array.from({ length: 8 }, () => pools.open(database.url!, 1).db);
    const results = await Promise.all(instances.map((db) => migrate(db)));

    const applied = results.map((result) => result.applied);
    const versions = migrationStatements('gta_tasks').map((migration) => migration.version);
    expect(applied.filter((list) => list.length > 0)).toEqual([versions]);
    expect(applied.filter((list) => list.length === 0)).toHaveLength(7);
    expect(results.every((result) => result.version === versions.at(-1))).toBe(true);
    expect(
      await database.query(`select relname from pg_class where relname in ('gta_tasks', 'gta_tasks_migrations')
        order by relname`),
    ).toEqual([{ relname: 'gta_tasks' }, { relname: 'gta_tasks_migrations' }]);
    expect(await database.query('select version from gta_tasks_migrations order by version')).toEqual(
      versions.map((version) => ({ version })),
    );
  });
});

describe.skipIf(!hasPostgres)('claims across concurrent ticks', () => {
  const pools = new Pools();
  let database: TestDatabase;

  beforeAll(async () => {
    database = await createPostgresDatabase({ poolSize: 4 });
    await migrate(database.db);
  });

  afterAll(async () => {
    await pools.close();
    await closeDatabase(database);
  });

  it('4 ticks started at the same moment claim disjoint sets covering all 200 tasks', async () => {
    const TASKS = 200;
    const ranBy = Array.from({ length: 4 }, () => [] as number[]);
    const peak = ranBy.map(() => 0);
    const waitingTask = (ran: number[], index = -1) => {
      let running = 0;
      return defineTask({
        key: 'disjoint',
        handler: async (_arg: { n: number }, ctx) => {
          ran.push(ctx.task.id);
          running++;
          if (index >= 0) peak[index] = Math.max(peak[index]!, running);
          try {
            await sleep(50);
          } finally {
            running--;
          }
        },
      });
    };
    const onEnqueuer = waitingTask([]);
    const enqueuer = instance(database.db, [onEnqueuer]);
    const args = Array.from({ length: TASKS }, (_, n) => ({ n }));
    const ids = await enqueueForScanners(database, enqueuer, onEnqueuer, args);
    const managers = ranBy.map((ran, index) =>
      instance(pools.open(database.url!, 4).db, [waitingTask(ran, index)]),
    );

    const reports = await Promise.all(
      managers.map((manager) => manager.tick({ budgetMs: 20_000, concurrency: 10 })),
    );

    const all = ranBy.flat();
    expect(new Set(all).size).toBe(all.length);
    expect([...all].sort((x, y) => x - y)).toEqual([...ids].sort((x, y) => x - y));
    expect(reports.map((report) => report.claimed)).toEqual(ranBy.map((ran) => ran.length));
    expect(ranBy.every((ran) => ran.length > 0)).toBe(true);
    expect(await statusCounts(database)).toEqual({ succeeded: TASKS });
    console.log(
      `[concurrency] claims per tick: ${ranBy.map((ran) => ran.length).join(', ')}; peak ${peak.join(', ')}`,
    );
    expect(Math.max(...peak)).toBeLessThanOrEqual(10);
  });
});

describe.skipIf(!hasPostgres)('sequence keys across instances', () => {
  const pools = new Pools();
  let database: TestDatabase;

  beforeAll(async () => {
    database = await createPostgresDatabase({ poolSize: 4 });
    await migrate(database.db);
  });

  afterAll(async () => {
    await pools.close();
    await closeDatabase(database);
  });

  it('4 tick loops run each key one task at a time, in id order', { timeout: 60_000 }, async () => {
    const TASKS = 30;
    const KEYS = 3;
    const tracker = new ExecutionTracker();
    const orderedTask = (name: string) =>
      defineTask({
        key: 'ordered',
        handler: async (_arg: { n: number }, ctx) => {
          tracker.start(ctx.task.id, name, ctx.task.sequenceKey);
          await sleep(5 + Math.random() * 15);
          tracker.end(ctx.task.id, name, ctx.task.sequenceKey);
        },
      });
    const onEnqueuer = orderedTask('enqueuer');
    const enqueuer = instance(database.db, [onEnqueuer]);
    const args = Array.from({ length: TASKS }, (_, n) => ({ n }));
    const ids = await enqueueForScanners(database, enqueuer, onEnqueuer, args, {
      sequenceKey: (index) => `key-${index % KEYS}`,
    });

    const managers = Array.from({ length: 4 }, (_, index) =>
      instance(pools.open(database.url!, 2).db, [orderedTask(`instance-${index}`)]),
    );
    const started = Date.now();
    const reports = await Promise.all(
      managers.map((manager) =>
        tickUntilDrained(manager, database, {
          tick: { budgetMs: 50, concurrency: 3 },
          deadline: started + 45_000,
          pauseMs: 15,
        }),
      ),
    );

    expect(await statusCounts(database)).toEqual({ succeeded: TASKS });
    expect(totals(reports.flat())).toMatchObject({ claimed: TASKS, succeeded: TASKS });
    expect(tracker.overlaps).toEqual([]);
    for (let key = 0; key < KEYS; key++) {
      const group = `key-${key}`;
      const expected = ids.filter((_, index) => index % KEYS === key);
      const events = tracker.events.filter((event) => event.group === group);
      const alternating = expected.flatMap((id) => [
        { kind: 'start', taskId: id },
        { kind: 'end', taskId: id },
      ]);
      expect(events.map(({ kind, taskId }) => ({ kind, taskId }))).toEqual(alternating);
    }
    const handOffs = tracker.events
      .filter((event) => event.kind === 'start')
      .filter((event, index, starts) => {
        const previous = starts.slice(0, index).findLast((earlier) => earlier.group === event.group);
        return previous !== undefined && previous.instance !== event.instance;
      }).length;
    console.log(
      `[concurrency] sequence keys: ${handOffs} of ${TASKS - KEYS} successors ran on another instance`,
    );
    expect(handOffs).toBeGreaterThan(0);
  });
});
