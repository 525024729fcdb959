/**
 * `npm run bench:limits`: what a group limit costs per task. The same backlog, enqueued through
 * `enqueueMany` in batches of 100 with autovacuum at its defaults and no VACUUM before the drain,
 * is drained by one instance ticking at concurrency 50, for a task without limits, one in a
 * concurrency group (10 tenants, each limited to far more than runs at once, so that only the
 * bookkeeping differs) and one with a rate limit too high to hold anything back. The three run in
 * alternating order over several rounds; each figure is the median, with the range of the rounds.
 *
 *   npm run bench:limits -w @gta/bench -- [--tasks=20000] [--rounds=5]
 * @module
 */
import { createTaskManager, defineTask, migrate, silentLogger, type TaskDefinition } from '@gta/core';
import { drizzle } from 'drizzle-orm/node-postgres';
import pg from 'pg';
import { createBenchDatabase, dropBenchDatabase } from './database.js';

const flag = (name: string, fallback: number) => {
  const given = process.argv.find((arg) => arg.startsWith(`--${name}=`));
  const value = given ? Number(given.slice(name.length + 3)) : fallback;
  if (!Number.isInteger(value) || value < 1) throw new Error(`--${name} must be a whole number above 0`);
  return value;
};
const TASKS = flag('tasks', 20_000);
const ROUNDS = flag('rounds', 5);
const TENANTS = 10;

interface Arg {
  tenant: string;
}
const handler = () => {};
const kinds: { name: string; task: TaskDefinition<Arg> }[] = [
  { name: 'no limit', task: defineTask({ key: 'plain', handler }) },
  {
    name: 'concurrency group',
    task: defineTask({
      key: 'grouped',
      concurrency: { limit: 1000, key: (arg: Arg) => arg.tenant },
      handler,
    }),
  },
  {
    name: 'rate limit',
    task: defineTask({ key: 'rated', rateLimit: { limit: 10_000, periodMs: 1000 }, handler }),
  },
];

const database = await createBenchDatabase();
const pool = new pg.Pool({ connectionString: database.url, max: 8 });
const db = drizzle(pool);
const rates = new Map<string, number[]>(kinds.map(({ name }) => [name, []]));
try {
  for (let round = 0; round < ROUNDS; round++) {
    const order = round % 2 === 0 ? kinds : [...kinds].reverse();
    for (const { name, task } of order) {
      const table = `limits_${task.key}_${round}`;
      await migrate(db, { table });
      const manager = createTaskManager({ db, table, tasks: [task], logger: silentLogger, concurrency: 50 });
      for (let start = 0; start < TASKS; start += 100) {
        const args = Array.from({ length: Math.min(100, TASKS - start) }, (_, n) => ({
          tenant: `t${(start + n) % TENANTS}`,
        }));
        await db.transaction((tx) => manager.enqueueMany(task, args, { tx }));
      }
      const began = performance.now();
      let done = 0;
      while (done < TASKS) done += (await manager.tick({ budgetMs: 60_000 })).succeeded;
      const rate = TASKS / ((performance.now() - began) / 1000);
      rates.get(name)!.push(rate);
      process.stderr.write(`round ${round + 1}/${ROUNDS} ${name}: ${Math.round(rate)} tasks/s\n`);
      await pool.query(
        `drop table "${table}", "${table}_rate_slots", "${table}_schedules", "${table}_migrations"`,
      );
    }
  }
} finally {
  await pool.end();
  await dropBenchDatabase(database.name);
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
const baseline = median(rates.get('no limit')!);
console.log(`\nDrain of ${TASKS} enqueued tasks, one instance at concurrency 50, ${ROUNDS} rounds\n`);
console.log('| task | tasks/s (median) | range | wall time per task | cost per task |');
console.log('| --- | ---: | --- | ---: | ---: |');
for (const { name } of kinds) {
  const values = rates.get(name)!;
  const rate = median(values);
  const perTaskUs = 1e6 / rate;
  const extra = perTaskUs - 1e6 / baseline;
  console.log(
    `| ${name} | ${Math.round(rate)} | ${Math.round(Math.min(...values))}–${Math.round(Math.max(...values))} | ${perTaskUs.toFixed(0)} µs | ${name === 'no limit' ? '—' : `${extra >= 0 ? '+' : ''}${extra.toFixed(0)} µs`} |`,
  );
}
