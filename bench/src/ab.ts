/**
 * A/B drain of two or more builds of the core, for judging a change on a noisy machine: each round
 * drains 10,000 no-op tasks with every build, one after another (in reverse order every other
 * round), and the ratio to the first build is taken round by round. Builds are snapshots of core/dist (`npm run snapshot -- <name>`).
 *
 * The table is filled by one `INSERT … SELECT generate_series` and vacuumed (`--fill=series`, the
 * default), or through `enqueueMany` in transactions of 100 with no VACUUM after (`--fill=enqueue`),
 * as a live table is.
 *
 *   npm run ab -w @gta/bench -- <name> <name> [--rounds=8] [--fill=series|enqueue]
 * @module
 */
import { existsSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { drizzle } from 'drizzle-orm/node-postgres';
import pg from 'pg';
import { createBenchDatabase, dropBenchDatabase } from './database.js';
import { median } from './stats.js';
import { TICK_BUDGET_MS } from './systems/gta.js';

type Core = typeof import('@gta/core');

const TASKS = 10_000;
const CONCURRENCY = 10;

const args = process.argv.slice(2);
const names = args.filter((arg) => !arg.startsWith('--'));
const rounds = Number(args.find((arg) => arg.startsWith('--rounds='))?.slice(9) ?? 8);
const fill = args.find((arg) => arg.startsWith('--fill='))?.slice(7) ?? 'series';
if (names.length < 2 || !Number.isInteger(rounds) || rounds < 2 || !['series', 'enqueue'].includes(fill)) {
  console.error(
    'usage: npm run ab -w @gta/bench -- <name> <name> [...] [--rounds=8] [--fill=series|enqueue]  (rounds ≥ 2)',
  );
  process.exit(1);
}
const builds: { name: string; core: Core }[] = [];
for (const name of names) {
  const entry = new URL(`../variants/${name}/index.js`, import.meta.url);
  if (!existsSync(fileURLToPath(entry))) {
    console.error(`no snapshot bench/variants/${name}: run npm run snapshot -w @gta/bench -- ${name}`);
    process.exit(1);
  }
  builds.push({ name, core: (await import(entry.href)) as Core });
}

const database = await createBenchDatabase();
const pool = new pg.Pool({ connectionString: database.url, max: 12 });
const db = drizzle({ client: pool });
let tables = 0;

/** Tasks per second draining `TASKS` due no-op tasks with repeated ticks, as the bench does. */
async function drain(core: Core): Promise<number> {
  const table = `gta_ab_${++tables}`;
  const noop = core.defineTask({ key: 'noop', handler: () => {} });
  const manager = core.createTaskManager({
    db,
    table,
    tasks: [noop],
    logger: core.silentLogger,
    concurrency: CONCURRENCY,
  });
  await manager.migrate();
  await manager.tick({ budgetMs: 1, concurrency: 1 });
  if (fill === 'enqueue') {
    for (let start = 0; start < TASKS; start += 100) {
      const batch = Array.from({ length: 100 }, (_, i) => ({ i: start + i }));
      await db.transaction((tx) => manager.enqueueMany(noop, batch, { tx }));
    }
  } else {
    await pool.query(
      `insert into "${table}" (task_key, arg, max_attempts, timeout_ms, run_at, created_at, updated_at)
       select 'noop', jsonb_build_object('i', i), 1, 60000, now(), now(), now() from generate_series(1, $1::int) i`,
      [TASKS],
    );
    await pool.query(`vacuum analyze "${table}"`);
  }
  const started = performance.now();
  let done = 0;
  for (;;) {
    const report = await manager.tick({ budgetMs: TICK_BUDGET_MS, concurrency: CONCURRENCY });
    done += report.succeeded;
    if (report.claimed === 0) break;
  }
  const rate = done / ((performance.now() - started) / 1000);
  await pool.query(`drop table "${table}"`);
  return rate;
}

try {
  const rates = builds.map(() => [] as number[]);
  for (let round = 1; round <= rounds; round++) {
    // Every other round runs the builds in reverse order, so that neither gains by going first.
    const order = [...builds.keys()];
    if (round % 2 === 0) order.reverse();
    for (const index of order) rates[index]!.push(await drain(builds[index]!.core));
    console.log(
      `round ${round}: ${builds.map((b, i) => `${b.name} ${Math.round(rates[i]!.at(-1)!)}/s`).join(', ')}`,
    );
  }
  // The first round warms the JIT and the database's caches; it is left out.
  const counted = (list: number[]) => list.slice(1);
  console.log('\n| build | tasks/s (median) | ÷ first build (median of rounds) |\n| --- | --- | --- |');
  for (const [index, build] of builds.entries()) {
    const ratio = median(counted(rates[index]!).map((rate, round) => rate / counted(rates[0]!)[round]!));
    console.log(`| ${build.name} | ${Math.round(median(counted(rates[index]!)))} | ${ratio.toFixed(3)}× |`);
  }
} finally {
  await pool.end();
  await dropBenchDatabase(database.name);
}
