/**
 * One memory sample run, in its own process so that no other system's allocations count: fills a
 * queue, then drains it with the system's best configuration while sampling the resident set size.
 * Usage: memory-child.ts <system> <tasks> <database url> <postgres version>; prints one JSON line.
 * @module
 */
import { createSystem } from './systems/index.js';
import type { SystemName } from './systems/types.js';

const [name, tasks, url, postgresVersion] = process.argv.slice(2) as [SystemName, string, string, string];

async function sample() {
  const system = await createSystem(name, url, { latencySamples: 0, pollingSamples: 0 }, postgresVersion);
  await system.setup();
  let baseline = 0;
  let peak = 0;
  let sampler: ReturnType<typeof setInterval> | undefined;
  const measure = () => {
    peak = Math.max(peak, process.memoryUsage.rss());
  };
  try {
    const run = await system.drain(system.drainVariants.find((variant) => variant.best)!, {
      tasks: Number(tasks),
      concurrency: 10,
      timeLimitMs: 300_000,
      onStart: () => {
        global.gc?.();
        baseline = process.memoryUsage.rss();
        peak = baseline;
        sampler = setInterval(measure, 20);
      },
    });
    measure();
    global.gc?.();
    return {
      tasks: run.tasks,
      ms: run.ms,
      capped: run.capped,
      baseline,
      peak,
      retainedHeap: process.memoryUsage().heapUsed,
    };
  } finally {
    clearInterval(sampler);
    await system.close();
  }
}

try {
  process.stdout.write(`${JSON.stringify(await sample())}\n`);
} catch (error) {
  process.stderr.write(`${(error instanceof Error ? error.message : String(error)).split('\n')[0]}\n`);
  process.exitCode = 1;
}
// graphile-worker leaves a timer of its locked-job scan (8 to 10 minutes) behind after stop().
process.exit();
