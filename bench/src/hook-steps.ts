/**
 * Where the commit hook's time goes: enqueues one task at a time in `manager.transaction` (after a
 * random pause, as the latency measurement does) and times, from the driver's side, the COMMIT's
 * reply, the start record's sending and reply, and the handler's first line. Prints the medians.
 * Usage (from bench/): `npx tsx src/hook-steps.ts [samples]`; it makes and drops its own database.
 * @module
 */
import { performance } from 'node:perf_hooks';
import { createTaskManager, defineTask, silentLogger } from '@gta/core';
import { drizzle } from 'drizzle-orm/node-postgres';
import { createBenchDatabase, dropBenchDatabase } from './database.js';
import { instrumentedPool, StatementLog } from './statements.js';
import { median } from './stats.js';

const samples = Number(process.argv[2] ?? 500);
const WARM_UP = 200;

/** The statement kinds this script tells apart; the rest are named by their first word. */
function kindOf(text: string): string {
  const start = text.trimStart().toLowerCase();
  if (start.startsWith('update') && start.includes('started_at')) return 'record start';
  return start.split(/\s/, 1)[0]!;
}

const database = await createBenchDatabase();
const sentAt = new Map<string, number>();
const log = new StatementLog((text) => {
  const kind = kindOf(text);
  sentAt.set(kind, performance.now());
  return kind;
});
const pool = instrumentedPool({ connectionString: database.url, max: 4 }, log);
try {
  let handlerStarted = () => {};
  const noop = defineTask({ key: 'noop', handler: () => handlerStarted() });
  const manager = createTaskManager({ db: drizzle({ client: pool }), tasks: [noop], logger: silentLogger });
  await manager.migrate();
  const steps: Record<string, number[]> = { toSend: [], roundTrip: [], toHandler: [], total: [] };
  for (let i = 0; i < WARM_UP + samples; i++) {
    await new Promise((resolve) => setTimeout(resolve, Math.random() * 2));
    const started = new Promise<number>((resolve) => {
      handlerStarted = () => resolve(performance.now());
    });
    const work: Promise<unknown>[] = [];
    await manager.transaction((tx) => manager.enqueue(noop, { i }, { tx }), {
      waitUntil: (promise) => void work.push(promise),
    });
    const handlerAt = await started;
    const committed = log.lastEnd.get('commit')!;
    const recordSent = sentAt.get('record start')!;
    const recorded = log.lastEnd.get('record start')!;
    if (i >= WARM_UP) {
      steps.toSend!.push(recordSent - committed);
      steps.roundTrip!.push(recorded - recordSent);
      steps.toHandler!.push(handlerAt - recorded);
      steps.total!.push(handlerAt - committed);
    }
    await Promise.all(work);
  }
  const ms = (values: number[]) => `${median(values).toFixed(3)} ms`;
  console.log(`median of ${samples} commits (after ${WARM_UP} to warm up):`);
  console.log(`  COMMIT's reply → start record sent   ${ms(steps.toSend!)}`);
  console.log(`  start record's round trip            ${ms(steps.roundTrip!)}`);
  console.log(`  its reply → handler's first line     ${ms(steps.toHandler!)}`);
  console.log(`  COMMIT's reply → handler (total)     ${ms(steps.total!)}`);
} finally {
  await pool.end();
  await dropBenchDatabase(database.name);
}
