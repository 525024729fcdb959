/**
 * The short chaos run inside `npm test`: each scenario at a size that takes seconds, asserting
 * that no task was lost and no guarantee broken. `npm run test:chaos` runs the full sizes.
 */
import { describe, expect, it } from 'vitest';
import { postgresAvailable } from '../../core/test/support/databases.js';
import type { ScenarioResult } from './report.js';
import { crashScenario } from './scenarios/crash.js';
import { dbFaultScenario } from './scenarios/db-faults.js';
import { hookLostScenario } from './scenarios/hook-lost.js';
import { overloadScenario } from './scenarios/overload.js';
import { poisonScenario } from './scenarios/poison.js';
import { queueCrashScenario } from './scenarios/queue-crash.js';

const hasPostgres = await postgresAvailable();

function expectHeld(result: ScenarioResult) {
  expect(result.violations).toEqual([]);
  expect(result.lost).toBe(0);
}

describe.skipIf(!hasPostgres)('chaos, short', () => {
  it('crash: killed workers lose nothing and re-run only what they were running', async () => {
    const result = await crashScenario({ tasks: 1500, workers: 3, maxKills: 2, timeoutMs: 90_000 });
    expectHeld(result);
    expect(result.kills).toBeGreaterThan(0);
  }, 120_000);

  it('database faults: terminated backends fail invocations cleanly and lose nothing', async () => {
    const result = await dbFaultScenario({ orders: 150, terminations: 4, timeoutMs: 60_000 });
    expectHeld(result);
    expect(result.tasks).toBeGreaterThan(0);
  }, 90_000);

  it('commit hook lost: the next tick runs the tasks; sensitive ones are reported instead', async () => {
    expectHeld(await hookLostScenario({ tasks: 200, timeoutMs: 30_000 }));
  }, 60_000);

  it('overload: the backlog drains under the cap and is reported while overdue', async () => {
    expectHeld(await overloadScenario({ tasks: 3000, instances: 2, concurrency: 10, timeoutMs: 90_000 }));
  }, 120_000);

  it('poison tasks fail with their reasons and block nobody', async () => {
    expectHeld(await poisonScenario({ healthy: 300, poisonEach: 5, timeoutMs: 60_000 }));
  }, 90_000);

  it('queue crash: a killed tick’s queued tasks are given back, and no task fails unstarted', async () => {
    const result = await queueCrashScenario({
      tasks: 1500,
      workers: 2,
      concurrency: 2,
      maxKills: 1,
      timeoutMs: 60_000,
    });
    expectHeld(result);
    expect(result.kills).toBeGreaterThan(0);
    // The kill stranded claimed tasks in a queue; the scenario means nothing otherwise.
    expect(result.givenBack).toBeGreaterThan(0);
  }, 90_000);
});
