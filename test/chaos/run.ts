/**
 * `npm run test:chaos`: every chaos scenario at full size, then the summary table. Exits non-zero
 * when any task was lost or any guarantee broken. Everything runs against the local Postgres
 * (DATABASE_URL), bounded in count and time, and stops by itself.
 */
import { type ScenarioResult, summaryTable } from './report.js';
import { crashScenario } from './scenarios/crash.js';
import { dbFaultScenario } from './scenarios/db-faults.js';
import { hookLostScenario } from './scenarios/hook-lost.js';
import { overloadScenario } from './scenarios/overload.js';
import { poisonScenario } from './scenarios/poison.js';
import { queueCrashScenario } from './scenarios/queue-crash.js';

const log = (line: string) => console.log(`[${new Date().toISOString().slice(11, 19)}] ${line}`);
const scenarios: [string, () => Promise<ScenarioResult>][] = [
  ['crash', () => crashScenario({ tasks: 10_000, workers: 4, maxKills: 40, timeoutMs: 300_000, log })],
  ['database faults', () => dbFaultScenario({ orders: 1500, terminations: 40, timeoutMs: 300_000, log })],
  ['commit hook lost', () => hookLostScenario({ tasks: 2000, timeoutMs: 120_000 })],
  [
    'overload',
    () => overloadScenario({ tasks: 50_000, instances: 2, concurrency: 10, timeoutMs: 600_000, log }),
  ],
  ['poison tasks', () => poisonScenario({ healthy: 5000, poisonEach: 50, timeoutMs: 180_000 })],
  [
    'queue-crash',
    () =>
      queueCrashScenario({ tasks: 3000, workers: 3, concurrency: 2, maxKills: 8, timeoutMs: 180_000, log }),
  ],
];

const only = process.argv.slice(2);
const results: ScenarioResult[] = [];
for (const [name, run] of scenarios) {
  if (only.length > 0 && !only.includes(name)) continue;
  log(`${name}: starting`);
  const result = await run();
  results.push(result);
  log(
    `${name}: ${result.violations.length === 0 ? 'ok' : 'FAILED'} in ${(result.durationMs / 1000).toFixed(1)} s`,
  );
  for (const note of result.notes ?? []) log(`  ${note}`);
  for (const violation of result.violations) log(`  violation: ${violation}`);
}
console.log(`\n${summaryTable(results)}`);
const failed = results.filter((result) => result.violations.length > 0 || result.lost > 0);
if (failed.length > 0) {
  console.error(`\n${failed.length} scenario(s) broke a guarantee`);
  process.exit(1);
}
