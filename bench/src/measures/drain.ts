/**
 * 2. Drain throughput: `drainTasks` no-op tasks already in the table, one process, concurrency 10,
 * until all are done and recorded. Every configuration runs in the first round; the best ones
 * (gta, each peer's best documented settings, the plain-SQL batched loop) in every round, one
 * system after another, so each round's ratios are taken side by side.
 * @module
 */
import type { BenchConfig } from '../config.js';
import { type CpuReading, cpuPerTask, readCpu } from '../cpu.js';
import { median, rate } from '../stats.js';
import type { System } from '../systems/types.js';

export interface DrainResult {
  system: string;
  variant: string;
  settings: string;
  best: boolean;
  /** Tasks per second in each round this configuration ran. */
  rates: number[];
  median: number;
  capped: boolean;
  /** CPU µs per task in this process (consumer and driver), each round. */
  clientCpu: number[];
  /** CPU µs per task in the Postgres server's processes, each round; empty when not readable. */
  databaseCpu: number[];
  /** Statements per task, from the first round. */
  statementsPerTask: number;
  statements: Record<string, number>;
}

export async function measureDrain(systems: System[], config: BenchConfig): Promise<DrainResult[]> {
  const results = new Map<string, DrainResult>();
  for (let round = 0; round < config.drainRounds; round++) {
    for (const system of systems) {
      for (const variant of system.drainVariants) {
        if (round > 0 && !variant.best) continue;
        let cpuAtStart: CpuReading | undefined;
        const run = await system.drain(variant, {
          tasks: config.drainTasks,
          concurrency: config.concurrency,
          timeLimitMs: config.drainTimeLimitMs,
          onStart: () => {
            cpuAtStart = readCpu();
          },
        });
        const cpu = cpuPerTask(cpuAtStart!, readCpu(), run.tasks);
        const key = `${system.name}/${variant.name}`;
        const result = results.get(key) ?? {
          system: system.name,
          variant: variant.name,
          settings: variant.settings,
          best: variant.best,
          rates: [],
          clientCpu: [],
          databaseCpu: [],
          median: 0,
          capped: false,
          statementsPerTask:
            Object.values(run.statements).reduce((sum, n) => sum + n, 0) / Math.max(1, run.tasks),
          statements: run.statements,
        };
        result.rates.push(rate(run.tasks, run.ms));
        result.clientCpu.push(cpu.client);
        if (cpu.database !== null) result.databaseCpu.push(cpu.database);
        result.capped ||= run.capped;
        result.median = median(result.rates);
        results.set(key, result);
        process.stderr.write(`  drain ${key}: ${Math.round(rate(run.tasks, run.ms))} tasks/s\n`);
      }
    }
  }
  return [...results.values()];
}

/**
 * gta's drain rate over each system's best, with the rounds' rates taken side by side: the median
 * of the rounds' ratios, and the lowest and highest of them (how much one round can be trusted).
 */
export function drainRatios(
  results: DrainResult[],
): { against: string; ratio: number; lowest: number; highest: number }[] {
  const gta = results.find((result) => result.system === 'gta');
  if (!gta) return [];
  return results
    .filter((result) => result.best && result.system !== 'gta')
    .map((peer) => {
      const rounds = Math.min(gta.rates.length, peer.rates.length);
      const ratios = Array.from({ length: rounds }, (_, i) => gta.rates[i]! / peer.rates[i]!);
      return {
        against: `${peer.system} ${peer.variant}`,
        ratio: median(ratios),
        lowest: Math.min(...ratios),
        highest: Math.max(...ratios),
      };
    });
}
