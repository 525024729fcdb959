/**
 * `npm run bench`: gta against graphile-worker, pg-boss and a plain-SQL SKIP LOCKED loop, on the
 * same Postgres in one run. Prints the measurements as tables and writes them to bench/results/
 * (JSON, Markdown, and the drain chart as SVG). A system that fails in one measurement is reported
 * as failed there, and the others are still measured.
 * @module
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseConfig } from './config.js';
import { createBenchDatabase, dropBenchDatabase, serverVersion } from './database.js';
import { measureBundle } from './measures/bundle.js';
import { measureDrain } from './measures/drain.js';
import { measureDrainEnqueued } from './measures/drain-enqueued.js';
import { measureEdge } from './measures/edge.js';
import { measureEnqueue } from './measures/enqueue.js';
import { measureLatency } from './measures/latency.js';
import { measureMemory } from './measures/memory.js';
import { measureRoundTrips } from './measures/round-trips.js';
import { measureScale } from './measures/scale.js';
import { measureScaleOut } from './measures/scale-out.js';
import { measureSteady } from './measures/steady.js';
import { drainChart } from './report/chart.js';
import { describeMachine } from './report/machine.js';
import { checkTargets, type Results, toMarkdown } from './report/markdown.js';
import type { Gta } from './systems/gta.js';
import { createSystem, packageVersion, systemVersions, unavailable } from './systems/index.js';
import { messageOf, type System } from './systems/types.js';

const config = parseConfig(process.argv.slice(2));
const resultsDir = fileURLToPath(new URL('../results/', import.meta.url));
const started = Date.now();
const postgres = await serverVersion();
const results: Results = {
  startedAt: new Date(started).toISOString(),
  // The npm script that ran it (bench, or bench:node24), passed down to this process by npm.
  command: `npm run ${process.env.npm_lifecycle_event ?? 'bench'}${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`,
  config,
  machine: describeMachine(postgres),
  versions: {
    ...systemVersions(),
    'drizzle-orm': packageVersion('drizzle-orm'),
    pg: packageVersion('pg'),
    postgres,
  },
  skipped: [],
};

const database = await createBenchDatabase();
const systems: System[] = [];
try {
  for (const name of config.systems) {
    const reason = unavailable(name);
    if (reason) {
      results.skipped!.push({ system: name, reason });
      process.stderr.write(`${name} skipped: ${reason}\n`);
      continue;
    }
    let system: System | undefined;
    try {
      system = await createSystem(name, database.url, config, postgres);
      await system.setup();
      systems.push(system);
    } catch (error) {
      await system?.close().catch(() => {});
      results.skipped!.push({ system: name, reason: `setup failed: ${messageOf(error)}` });
      process.stderr.write(`${name} skipped, its setup failed: ${messageOf(error)}\n`);
    }
  }
  const wants = (measure: (typeof config.measures)[number]) => config.measures.includes(measure);
  const gta = systems.find((system): system is Gta => system.name === 'gta');
  // A measurement that fails is reported, and the others still run; within one, so is a system.
  const measure = async <T>(name: string, run: () => Promise<T>): Promise<T | undefined> => {
    process.stderr.write(`${name}… (${((Date.now() - started) / 1000).toFixed(0)} s into the run)\n`);
    try {
      return await run();
    } catch (error) {
      const message = messageOf(error);
      process.stderr.write(`  failed: ${message}\n`);
      results.errors = { ...results.errors, [name]: message };
      return undefined;
    }
  };

  if (wants('enqueue'))
    results.enqueue = await measure('1. enqueue throughput', () => measureEnqueue(systems, config));
  if (wants('drain'))
    results.drain = await measure('2. drain throughput', () => measureDrain(systems, config));
  if (wants('drain-enqueued')) {
    results.drainEnqueued = await measure('2b. drain of an enqueue-filled table', () =>
      measureDrainEnqueued(systems, config, database.url),
    );
  }
  if (wants('latency'))
    results.latency = await measure('3. commit-to-start latency', () => measureLatency(systems));
  if (wants('steady'))
    results.steady = await measure('3b. steady state', () => measureSteady(systems, config));
  if (wants('round-trips') && gta) {
    results.roundTrips = await measure('4. round trips per task', () => measureRoundTrips(gta, config));
  }
  if (wants('scale')) results.scale = await measure('5. scale', () => measureScale(systems, config));
  if (wants('scale-out')) {
    results.scaleOut = await measure('5b. scale-out', () =>
      measureScaleOut(systems, config, database.url, postgres),
    );
  }
  // Each memory sample runs in its own process; this one's pools stay open meanwhile, idle.
  if (wants('memory')) {
    results.memory = await measure('6. memory', () => measureMemory(systems, config, database.url, postgres));
  }
  if (wants('bundle')) results.bundle = await measure('7. bundle size', () => measureBundle());
  if (wants('edge')) results.edge = await measure('8. edge path', () => measureEdge(config, database.url));
} finally {
  for (const system of systems) await system.close().catch(() => {});
  await dropBenchDatabase(database.name);
}

results.targets = checkTargets(results);
results.durationMs = Date.now() - started;
const markdown = toMarkdown(results);
process.stdout.write(`\n${markdown}`);

mkdirSync(resultsDir, { recursive: true });
const stamp = results.startedAt.replace(/[:.]/g, '-');
const json = `${JSON.stringify(results, null, 2)}\n`;
writeFileSync(`${resultsDir}${stamp}.json`, json);
writeFileSync(`${resultsDir}latest.json`, json);
writeFileSync(`${resultsDir}${stamp}.md`, markdown);
if (results.drain) {
  const chart = drainChart(
    results.drain,
    `Drain throughput, ${results.startedAt.slice(0, 10)} (${config.quick ? 'quick' : 'full'} run)`,
  );
  writeFileSync(`${resultsDir}drain-${stamp}.svg`, chart);
  writeFileSync(`${resultsDir}drain.svg`, chart);
}
process.stderr.write(`results written to bench/results/${stamp}.{json,md}\n`);
// graphile-worker leaves a timer of its locked-job scan (8 to 10 minutes) behind after stop().
process.exit(0);
