/**
 * Group limits held by the database across processes: four worker processes tick one table at
 * once, as four serverless instances fired by cron would, each on its own pool.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { createTaskManager, migrate, silentLogger } from '@gta/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createPostgresDatabase,
  postgresAvailable,
  type TestDatabase,
} from '../../core/test/support/databases.js';
import { GROUP_LIMIT, limitTasks, RATE_LIMIT, RUNS_TABLE_SQL } from './tasks.js';

const hasPostgres = await postgresAvailable();
const WORKER = fileURLToPath(new URL('./worker.ts', import.meta.url));
const PROCESSES = 4;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function spawnWorkers(url: string, table: string): { children: ChildProcess[]; ready: Promise<void> } {
  const children = Array.from({ length: PROCESSES }, (_, n) =>
    spawn(process.execPath, ['--import', 'tsx', WORKER], {
      env: { ...process.env, LIMITS_URL: url, LIMITS_TABLE: table, LIMITS_WORKER: `w${n + 1}` },
      stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
    }),
  );
  const ready = Promise.all(
    children.map((child) => new Promise<void>((resolve) => child.once('message', () => resolve()))),
  ).then(() => {});
  return { children, ready };
}

async function stopWorkers(children: ChildProcess[]): Promise<void> {
  await Promise.all(
    children.map(
      (child) =>
        new Promise<void>((resolve) => {
          if (child.exitCode !== null) return resolve();
          child.once('exit', () => resolve());
          child.kill('SIGTERM');
        }),
    ),
  );
}

/** The most intervals of `runs` open at one instant. */
function mostOverlapping(runs: { started_at: Date; finished_at: Date }[]): number {
  const edges = runs.flatMap((run) => [
    { at: run.started_at.getTime(), step: 1 },
    { at: run.finished_at.getTime(), step: -1 },
  ]);
  // At one instant an end comes before a start: a slot freed and taken again is not an overlap.
  edges.sort((a, b) => a.at - b.at || a.step - b.step);
  let open = 0;
  let most = 0;
  for (const { step } of edges) {
    open += step;
    most = Math.max(most, open);
  }
  return most;
}

describe.skipIf(!hasPostgres)(`group limits across ${PROCESSES} processes`, () => {
  let database: TestDatabase;
  beforeAll(async () => {
    database = await createPostgresDatabase();
  });
  afterAll(() => database?.close());

  async function prepare(table: string) {
    await migrate(database.db, { table });
    await database.exec(RUNS_TABLE_SQL(table));
    const tasks = limitTasks(null, table, 'enqueuer');
    const manager = createTaskManager({
      db: database.db,
      table,
      tasks: Object.values(tasks),
      logger: silentLogger,
    });
    return { tasks, manager };
  }

  // Guarantee: however many invocations tick at once, a group never has more than `limit` tasks running.
  it(`a group with limit ${GROUP_LIMIT} never has more than ${GROUP_LIMIT} running, and the rest still drains`, async () => {
    const table = 'concurrency';
    const { tasks, manager } = await prepare(table);
    const work = (tenant: string, count: number) =>
      Array.from({ length: count }, (_, n) => ({ tenant, ms: 20 + ((n * 7) % 40) }));
    await database.db.transaction(async (tx: any) => {
      await manager.enqueueMany(tasks.limited, work('a', 60), { tx });
      await manager.enqueueMany(tasks.limited, work('b', 30), { tx });
      await manager.enqueueMany(tasks.free, work('-', 200), { tx });
    });
    const { children, ready } = spawnWorkers(database.url!, table);
    let mostRunning = 0;
    let samples = 0;
    try {
      await ready;
      const deadline = Date.now() + 60_000;
      for (;;) {
        const rows = await database.query<{ concurrency_key: string; running: number }>(
          `select concurrency_key, count(*)::int as running from ${table}
           where task_key = 'limited' and status = 'running' group by concurrency_key`,
        );
        samples++;
        for (const row of rows) mostRunning = Math.max(mostRunning, row.running);
        const [left] = await database.query<{ count: number }>(
          `select count(*)::int as count from ${table} where status in ('initialized', 'running')`,
        );
        if (left!.count === 0) break;
        if (Date.now() > deadline) throw new Error(`${left!.count} tasks still unfinished after 60 s`);
        await sleep(2);
      }
    } finally {
      await stopWorkers(children);
    }
    const runs = await database.query<{
      tenant: string;
      worker: string;
      started_at: Date;
      finished_at: Date;
    }>(`select tenant, worker, started_at, finished_at from ${table}_runs where task_key = 'limited'`);
    const byTenant = (tenant: string) => runs.filter((run) => run.tenant === tenant);
    expect(byTenant('a')).toHaveLength(60);
    expect(byTenant('b')).toHaveLength(30);
    // From the handlers: never more than the limit at once in a group, and the limit was reached.
    expect(mostOverlapping(byTenant('a'))).toBe(GROUP_LIMIT);
    expect(mostOverlapping(byTenant('b'))).toBe(GROUP_LIMIT);
    // From the table, sampled while the processes ran.
    expect(samples).toBeGreaterThan(10);
    expect(mostRunning).toBeLessThanOrEqual(GROUP_LIMIT);
    // The group's tasks ran on more than one process, so the limit held across them.
    expect(new Set(byTenant('a').map((run) => run.worker)).size).toBeGreaterThan(1);
    const [succeeded] = await database.query<{ count: number }>(
      `select count(*)::int as count from ${table} where status = 'succeeded' and task_key not like 'gta:%'`,
    );
    expect(succeeded!.count).toBe(290);
  }, 90_000);

  // Guarantee: at most `limit` starts of a group in any window of `periodMs`, across all instances,
  // counted on the database clock when each claim writes its slot; the tasks over it wait in the
  // table. Measured at each claim's own clock (the statement's start, a little before it writes
  // the slot), less the slack of one claim statement's run: not at the handlers' starts, whose
  // delay after the claim (the answer's trip, the worker's event loop) grows with the machine's
  // load and says nothing of the limit.
  it(`rateLimit ${RATE_LIMIT.limit} per ${RATE_LIMIT.periodMs} ms: at most ${RATE_LIMIT.limit} starts in any window, about 100 in 5 s`, async () => {
    const table = 'rate';
    const { tasks, manager } = await prepare(table);
    await database.db.transaction((tx: any) =>
      manager.enqueueMany(
        tasks.rated,
        Array.from({ length: 300 }, () => ({ tenant: '-', ms: 5 })),
        { tx },
      ),
    );
    const { children, ready } = spawnWorkers(database.url!, table);
    let waitingSeen = 0;
    try {
      await ready;
      const until = Date.now() + 5000;
      while (Date.now() < until) {
        // The tasks over the limit wait initialized, due when the group's first slot frees.
        const [row] = await database.query<{ count: number }>(
          `select count(*)::int as count from ${table} where status = 'initialized' and run_at > now()`,
        );
        waitingSeen = Math.max(waitingSeen, row!.count);
        await sleep(100);
      }
    } finally {
      await stopWorkers(children);
    }
    const claims = (
      await database.query<{ claimed_at: Date }>(`select claimed_at from ${table}_runs order by claimed_at`)
    ).map((run) => run.claimed_at.getTime());
    const slackMs = 100;
    let busiest = 0;
    for (let first = 0, last = 0; first < claims.length; first++) {
      while (last < claims.length && claims[last]! < claims[first]! + RATE_LIMIT.periodMs - slackMs) last++;
      busiest = Math.max(busiest, last - first);
    }
    expect(busiest).toBe(RATE_LIMIT.limit);
    // Five windows' worth, give or take the start-up of the processes and their stop.
    expect(claims.length).toBeGreaterThanOrEqual(80);
    expect(claims.length).toBeLessThanOrEqual(120);
    expect(waitingSeen).toBeGreaterThan(0);
    const [failed] = await database.query<{ count: number }>(
      `select count(*)::int as count from ${table} where status = 'failed'`,
    );
    expect(failed!.count).toBe(0);
  }, 60_000);
});
