/**
 * 2. Drain throughput: `drainTasks` no-op tasks already in the table, one process, concurrency 10,
 * until all are done and recorded. Every configuration runs in the first round; the best ones
 * (gta, each peer's best documented settings, the plain-SQL batched loop) in every round, one
 * system after another, so each round's ratios are taken side by side.
 *
 * The rounds themselves ({@link drainRounds}) serve the enqueue-filled drain too (2b), which fills
 * the table through each system's own enqueue API instead and alternates the systems' order.
 * @module
 */
import { watchAutovacuum } from '../autovacuum.js';
import type { BenchConfig } from '../config.js';
import { type CpuReading, cpuPerTask, readCpu } from '../cpu.js';
import { median, rate } from '../stats.js';
import { type FillMode, messageOf, type System } from '../systems/types.js';

export interface DrainResult {
  system: string;
  variant: string;
  settings: string;
  best: boolean;
  /** How the table was filled (see FillMode). */
  fill: FillMode;
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
  /** Tasks per second of the fill, each round (not part of the drain's time). */
  fillRates: number[];
  /** Each round: ms from starting the consumer to its first handler, and from its last handler to the end. */
  firstTaskMs: number[];
  tailMs: number[];
  /** Each round, the autovacuum passes seen on the database while the drain ran (when watched). */
  autovacuum?: string[][];
  /** Why a round failed; the configuration ran in no later round. */
  failure?: string;
}

export interface DrainRoundsOptions {
  fills: FillMode[];
  rounds: number;
  /** Every other round runs the systems in reverse order, so none always runs first. */
  alternate: boolean;
  /** Only the best configurations, in every round. */
  bestOnly?: boolean;
  /** Samples autovacuum on this database during each drain. */
  watchUrl?: string;
  /** Name in the progress lines. */
  label: string;
}

/**
 * Runs the rounds: each round, each fill, each system (in reverse every other round when
 * alternating), its configurations (other than the best in the first round only). A configuration
 * that fails is reported with its error and skipped from then on; the others go on.
 */
export async function drainRounds(
  systems: System[],
  config: BenchConfig,
  options: DrainRoundsOptions,
): Promise<DrainResult[]> {
  const results = new Map<string, DrainResult>();
  for (let round = 0; round < options.rounds; round++) {
    const order = options.alternate && round % 2 === 1 ? [...systems].reverse() : systems;
    for (const fill of options.fills) {
      for (const system of order) {
        for (const variant of system.drainVariants) {
          if ((round > 0 || options.bestOnly) && !variant.best) continue;
          const key = `${system.name}/${variant.name}/${fill}`;
          const known = results.get(key);
          if (known?.failure) continue;
          const result: DrainResult = known ?? {
            system: system.name,
            variant: variant.name,
            settings: variant.settings,
            best: variant.best,
            fill,
            rates: [],
            clientCpu: [],
            databaseCpu: [],
            median: Number.NaN,
            capped: false,
            statementsPerTask: Number.NaN,
            statements: {},
            fillRates: [],
            firstTaskMs: [],
            tailMs: [],
            ...(options.watchUrl ? { autovacuum: [] } : {}),
          };
          results.set(key, result);
          const watch = options.watchUrl ? await watchAutovacuum(options.watchUrl) : undefined;
          let cpuAtStart: CpuReading | undefined;
          try {
            const run = await system.drain(variant, {
              tasks: config.drainTasks,
              concurrency: config.concurrency,
              timeLimitMs: config.drainTimeLimitMs,
              fill,
              onStart: () => {
                watch?.mark();
                cpuAtStart = readCpu();
              },
            });
            const cpu = cpuPerTask(cpuAtStart!, readCpu(), run.tasks);
            const autovacuum = await watch?.stop();
            if (result.rates.length === 0) {
              result.statements = run.statements;
              result.statementsPerTask =
                Object.values(run.statements).reduce((sum, n) => sum + n, 0) / Math.max(1, run.tasks);
            }
            result.rates.push(rate(run.tasks, run.ms));
            result.fillRates.push(rate(config.drainTasks, run.fillMs));
            result.firstTaskMs.push(run.firstTaskMs);
            result.tailMs.push(run.ms - run.lastTaskMs);
            result.clientCpu.push(cpu.client);
            if (cpu.database !== null) result.databaseCpu.push(cpu.database);
            if (autovacuum) result.autovacuum?.push(autovacuum);
            result.capped ||= run.capped;
            result.median = median(result.rates);
            process.stderr.write(
              `  ${options.label} ${key}: ${Math.round(rate(run.tasks, run.ms))} tasks/s${autovacuum?.length ? ` (autovacuum: ${autovacuum.join(', ')})` : ''}\n`,
            );
          } catch (error) {
            await watch?.stop();
            result.failure = `round ${round + 1}: ${messageOf(error)}`;
            process.stderr.write(`  ${options.label} ${key} failed: ${result.failure}\n`);
          }
        }
      }
    }
  }
  return [...results.values()];
}

export async function measureDrain(systems: System[], config: BenchConfig): Promise<DrainResult[]> {
  return drainRounds(systems, config, {
    fills: ['series'],
    rounds: config.drainRounds,
    alternate: false,
    label: 'drain',
  });
}

export interface RoundRatio {
  against: string;
  ratio: number;
  lowest: number;
  highest: number;
  rounds: number;
}

/**
 * Ratios a ÷ b of two configurations' rounds taken side by side: their median, and the lowest and
 * highest of them (how much one round can be trusted); undefined when no round has both.
 */
export function roundRatio(a: { rates: number[] }, b: { rates: number[] }) {
  const rounds = Math.min(a.rates.length, b.rates.length);
  if (rounds === 0) return undefined;
  const ratios = Array.from({ length: rounds }, (_, i) => a.rates[i]! / b.rates[i]!);
  return { ratio: median(ratios), lowest: Math.min(...ratios), highest: Math.max(...ratios), rounds };
}

/** gta's best drain rate over each other system's best, round by round (see {@link roundRatio}). */
export function drainRatios(results: DrainResult[]): RoundRatio[] {
  const gta = results.find((result) => result.system === 'gta' && result.best);
  if (!gta) return [];
  return results
    .filter((result) => result.best && result.system !== 'gta')
    .flatMap((peer) => {
      const ratio = roundRatio(gta, peer);
      return ratio ? [{ against: `${peer.system} ${peer.variant}`, ...ratio }] : [];
    });
}
