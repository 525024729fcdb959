/**
 * Property test of the engine's guarantees (SPEC §11) on the real Postgres, through node-postgres.
 * fast-check generates the interleavings (harness/engine-model.ts): commits in another order than
 * ids (transactions held open and closed in a generated order), an instance that dies at a
 * generated point (between a claim's answer and the start of its tasks, with tasks in a tick's
 * queue, mid-handler) and a survivor with its clock an hour ahead that rescues, `stop()` called
 * while a claim is held back in flight, commit hooks racing a tick whose claim is held back, and
 * handlers held by gates so that runs overlap. After every run, the log of handler runs and the
 * table must show each guarantee below; a failure prints the seed and the scenario.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Pools } from '../../core/test/support/concurrency.js';
import {
  createPostgresDatabase,
  postgresAvailable,
  type TestDatabase,
} from '../../core/test/support/databases.js';
import { type HandlerRun, type RunResult, runScenario, scenarios } from './harness/engine-model.js';

const hasPostgres = await postgresAvailable();

const RUNS = 25;

const endOf = (run: HandlerRun) => run.endedAt ?? Number.POSITIVE_INFINITY;
const overlaps = (a: HandlerRun, b: HandlerRun) => a.startedAt < endOf(b) && b.startedAt < endOf(a);
const describeRun = (run: HandlerRun) =>
  `task ${run.taskId}${run.sequenceKey ? ` (key ${run.sequenceKey})` : ''} run ${run.index} on ${run.instance} [${run.startedAt}, ${run.endedAt ?? '…'}]`;

/** Every guarantee the run broke, in words. */
function brokenGuarantees(result: RunResult): string[] {
  const broken: string[] = [...result.errors.map((error) => `unexpected rejection: ${error}`)];
  const { runs } = result.log;
  const runsOf = (id: number) => runs.filter((run) => run.taskId === id);

  // (1) Two tasks sharing a sequence key never run at the same time, nor does a task run twice at once.
  for (const [i, a] of runs.entries()) {
    for (const b of runs.slice(i + 1)) {
      const shared = a.taskId === b.taskId || (a.sequenceKey !== null && a.sequenceKey === b.sequenceKey);
      if (shared && overlaps(a, b)) broken.push(`${describeRun(a)} overlaps ${describeRun(b)}`);
    }
  }

  // (1b) Among tasks of a key visible at once, the earlier enqueued runs first: a run whose claim was
  // sent after an earlier task of its key had committed starts after every run of that task.
  for (const later of runs) {
    if (later.sequenceKey === null || later.claimSentAt === undefined) continue;
    for (const earlier of runs) {
      const visible = result.committedAt.get(earlier.taskId);
      if (earlier.sequenceKey !== later.sequenceKey || earlier.taskId >= later.taskId) continue;
      if (visible !== undefined && visible < later.claimSentAt && earlier.startedAt > later.startedAt) {
        broken.push(`${describeRun(later)} ran before ${describeRun(earlier)}, committed earlier`);
      }
    }
  }

  // (2) At no instant does one manager run more handlers than its concurrency.
  for (const [instance, cap] of result.concurrency) {
    const events = runs
      .filter((run) => run.instance === instance)
      .flatMap((run) => [
        { at: run.startedAt, change: 1 },
        { at: endOf(run), change: -1 },
      ])
      .sort((x, y) => x.at - y.at);
    let running = 0;
    for (const { at, change } of events) {
      running += change;
      if (running > cap)
        broken.push(`${instance} ran ${running} handlers at once at ${at}; its cap is ${cap}`);
    }
  }

  const rows = new Map(result.rows.map((row) => [row.id, row]));
  for (const [id, spec] of result.committed) {
    const row = rows.get(id);
    const started = runsOf(id);
    const expected = `${spec.retryTimes} retries, ${spec.throwsFirst} scripted failures, ${started.length} runs`;
    // (3) A task ends `failed` only after retryTimes + 1 attempts whose handlers started.
    if (row?.status === 'failed' && started.length < spec.retryTimes + 1) {
      broken.push(`task ${id} failed after ${started.length} started runs (${expected})`);
    }
    // (4) No task whose handler never started is `failed`.
    if (row?.status === 'failed' && started.length === 0) broken.push(`task ${id} failed but never started`);

    // (6) Eventually every committed task succeeded or failed as its handler's script says.
    if (row === undefined) {
      broken.push(`committed task ${id} is lost`);
      continue;
    }
    if (row.status !== 'succeeded' && row.status !== 'failed') {
      broken.push(`task ${id} is still ${row.status} after the drain (${expected})`);
      continue;
    }
    if (row.status === 'succeeded' && !started.some((run) => run.end === 'returned')) {
      broken.push(`task ${id} succeeded without a run that returned (${expected})`);
    }
    // Without a death, a run that started always records its attempt, so the script decides alone.
    if (!started.some((run) => run.end === 'died')) {
      const attempts = Math.min(spec.throwsFirst, spec.retryTimes) + 1;
      const status = spec.throwsFirst <= spec.retryTimes ? 'succeeded' : 'failed';
      if (started.length !== attempts || row.status !== status) {
        broken.push(
          `task ${id} is ${row.status} after ${started.length} runs; expected ${status} after ${attempts} (${expected})`,
        );
      }
    }
  }
  for (const id of result.rolledBack) {
    if (rows.has(id)) broken.push(`task ${id} of a rolled-back transaction is in the table`);
    if (runsOf(id).length > 0) broken.push(`task ${id} of a rolled-back transaction ran`);
  }
  for (const id of rows.keys()) {
    if (!result.committed.has(id) && !result.rolledBack.includes(id))
      broken.push(`task ${id} was never enqueued`);
  }

  // (5) From the moment stop() is called, the manager starts nothing, so neither what commits later.
  for (const [instance, at] of result.log.stopCalledAt) {
    for (const run of runs.filter((each) => each.instance === instance && each.startedAt > at)) {
      broken.push(`${describeRun(run)} started after stop() was called at ${at}`);
    }
  }
  return broken;
}

describe.skipIf(!hasPostgres)('the engine under generated interleavings (real Postgres)', () => {
  let database: TestDatabase;
  const pools = new Pools();
  let instanceDbs: [any, any];
  let foreignDb: any;
  let table = 0;

  beforeAll(async () => {
    database = await createPostgresDatabase({ poolSize: 4 });
    const url = database.url!;
    instanceDbs = [pools.open(url, 8).db, pools.open(url, 8).db];
    foreignDb = pools.open(url, 4).db;
  });
  afterAll(async () => {
    await pools.close();
    await database?.close();
  });

  it('keeps sequence keys exclusive, the caps, stop, fair attempts, and every committed task', async () => {
    // What the runs went through, so that a harness that stopped racing anything cannot pass.
    const seen = { claimsHeld: 0, stops: 0, deaths: 0, cutByDeath: 0, keyedRuns: 0, rolledBack: 0 };
    await fc.assert(
      fc.asyncProperty(scenarios, async (scenario) => {
        const result = await runScenario(scenario, {
          database,
          instanceDbs,
          foreignDb,
          table: `engine_${table++}`,
        });
        seen.claimsHeld += result.claimsHeld;
        seen.stops += result.log.stopCalledAt.size;
        seen.deaths += result.log.diedAt.size;
        seen.cutByDeath += result.log.runs.filter((run) => run.end === 'died').length;
        seen.keyedRuns += result.log.runs.filter((run) => run.sequenceKey !== null).length;
        seen.rolledBack += result.rolledBack.length;
        const broken = brokenGuarantees(result);
        if (broken.length > 0) throw new Error(`guarantees broken:\n${broken.join('\n')}`);
      }),
      // Shrinking a failure re-runs scenarios on Postgres: it stops after a while with what it has.
      { numRuns: RUNS, interruptAfterTimeLimit: 120_000 },
    );
    for (const [what, count] of Object.entries(seen)) expect(count, what).toBeGreaterThan(0);
  }, 180_000);
});
