/**
 * 2b. Drain of a table filled the way users fill it: through each system's own enqueue API, one
 * task per transaction (from four connections at once) and in batches of 100, with autovacuum at
 * its defaults and no VACUUM or ANALYZE between the fill and the drain. The best configurations
 * only, in alternating rounds (every other round runs the systems in reverse order); the
 * autovacuum passes seen on the database during each drain are kept beside its rate, since they
 * are one reason a round differs from the next.
 * @module
 */
import type { BenchConfig } from '../config.js';
import type { System } from '../systems/types.js';
import { type DrainResult, drainRounds } from './drain.js';

export async function measureDrainEnqueued(
  systems: System[],
  config: BenchConfig,
  url: string,
): Promise<DrainResult[]> {
  return drainRounds(systems, config, {
    fills: ['each', 'batches'],
    rounds: config.enqueuedDrainRounds,
    alternate: true,
    bestOnly: true,
    watchUrl: url,
    label: 'drain (enqueued)',
  });
}
