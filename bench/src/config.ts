/**
 * Sizes of one benchmark run, from the command line: `npm run bench` for the full sizes,
 * `npm run bench -- --quick` for a smaller run, `--only=drain,latency` to pick measurements and
 * `--systems=gta,plain-sql` to pick systems.
 * @module
 */
import type { SystemName } from './systems/types.js';

export const MEASURES = [
  'enqueue',
  'drain',
  'drain-enqueued',
  'latency',
  'steady',
  'round-trips',
  'scale',
  'scale-out',
  'memory',
  'bundle',
  'edge',
] as const;
export type MeasureName = (typeof MEASURES)[number];
/** Every system, in the order they run; the newer peers are skipped on a Node they refuse. */
export const SYSTEMS: SystemName[] = [
  'gta',
  'graphile-worker',
  'graphile-worker@0.18',
  'pg-boss',
  'pg-boss@12',
  'plain-sql',
];

export interface BenchConfig {
  quick: boolean;
  measures: MeasureName[];
  systems: SystemName[];
  /** Handlers at once, for every system. */
  concurrency: number;
  /** Tasks enqueued one per transaction. */
  enqueueEach: number;
  /** Tasks enqueued in batches of `enqueueBatchSize`. */
  enqueueBatched: number;
  enqueueBatchSize: number;
  /** Rounds of the enqueue measurement (every system in each); the figure is their median. */
  enqueueRounds: number;
  drainTasks: number;
  /** Rounds of the drain comparison; configurations other than the best run in the first only. */
  drainRounds: number;
  /** A drain still running after this long is stopped and rated on what it finished. */
  drainTimeLimitMs: number;
  /** Rounds of the enqueue-filled drain (alternating the systems' order); the figure is their median. */
  enqueuedDrainRounds: number;
  latencySamples: number;
  /** Samples of a polling consumer, each costing half its interval on average. */
  pollingSamples: number;
  /** Due tasks drained in the scale measurement, alone and among `scaleTableRows` rows. */
  scaleDue: number;
  scaleTableRows: number;
  memorySmall: number;
  memoryLarge: number;
  /** Connections enqueuing at once in the steady state, one task per transaction each. */
  steadyProducers: number;
  /** How long each offered rate is held, ms. */
  steadyStepMs: number;
  /** How long the latency step at half the sustained rate lasts, ms. */
  steadyLatencyMs: number;
  /** Halvings of the interval between the last rate sustained and the first not. */
  steadyRefine: number;
  /** The ladder stops doubling past this rate (tasks/s). */
  steadyMaxRate: number;
  /** Rounds of the best configurations (the others run in the first); the figure is their median. */
  steadyRounds: number;
  /** Consumer process counts of the scale-out, on one shared queue. */
  scaleOutProcesses: number[];
  scaleOutTasks: number;
}

export function parseConfig(argv: string[]): BenchConfig {
  const quick = argv.includes('--quick');
  const list = (flag: string) =>
    argv
      .find((arg) => arg.startsWith(`--${flag}=`))
      ?.slice(flag.length + 3)
      .split(',')
      .filter(Boolean);
  const measures = (list('only') ?? [...MEASURES]) as MeasureName[];
  const systems = (list('systems') ?? SYSTEMS) as SystemName[];
  for (const measure of measures) {
    if (!MEASURES.includes(measure))
      throw new Error(`unknown measurement ${measure}; one of ${MEASURES.join(', ')}`);
  }
  for (const system of systems) {
    if (!SYSTEMS.includes(system)) throw new Error(`unknown system ${system}; one of ${SYSTEMS.join(', ')}`);
  }
  return {
    quick,
    measures,
    systems,
    concurrency: 10,
    enqueueEach: quick ? 300 : 2000,
    enqueueBatched: quick ? 2000 : 10_000,
    enqueueBatchSize: 100,
    enqueueRounds: quick ? 1 : 3,
    drainTasks: quick ? 2000 : 10_000,
    drainRounds: quick ? 1 : 5,
    drainTimeLimitMs: quick ? 8000 : 20_000,
    enqueuedDrainRounds: quick ? 1 : 5,
    latencySamples: quick ? 100 : 500,
    pollingSamples: quick ? 8 : 30,
    scaleDue: quick ? 2000 : 10_000,
    scaleTableRows: quick ? 100_000 : 1_000_000,
    memorySmall: quick ? 2000 : 10_000,
    memoryLarge: quick ? 20_000 : 100_000,
    steadyProducers: 8,
    steadyStepMs: quick ? 1000 : 2000,
    steadyLatencyMs: quick ? 1500 : 3000,
    steadyRefine: quick ? 1 : 2,
    steadyMaxRate: 51_200,
    steadyRounds: quick ? 1 : 2,
    scaleOutProcesses: quick ? [1, 2, 4] : [1, 2, 4, 8],
    scaleOutTasks: quick ? 2000 : 10_000,
  };
}
