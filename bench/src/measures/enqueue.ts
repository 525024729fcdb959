/**
 * 1. Enqueue throughput: tasks one per transaction (BEGIN, the system's enqueue, COMMIT, one after
 * another), and in batches of 100 through each system's batch API. Each round runs every system in
 * turn; the figure is the median of the rounds, so the first round's cold code and caches (which
 * fall on whichever system runs first) do not decide it. Setup and cleanup are not timed.
 * @module
 */
import type { BenchConfig } from '../config.js';
import { median, rate } from '../stats.js';
import { messageOf, type System } from '../systems/types.js';

export interface EnqueueResult {
  system: string;
  /** Median of the rounds. */
  eachPerSec: number;
  batchedPerSec: number;
  /** Each round's rate, in order. */
  eachRounds: number[];
  batchedRounds: number[];
  eachTasks: number;
  batchedTasks: number;
  /** Why a round failed; the system ran in no later round. */
  failure?: string;
}

export async function measureEnqueue(systems: System[], config: BenchConfig): Promise<EnqueueResult[]> {
  const rounds = new Map(
    systems.map((system) => [
      system,
      { each: [] as number[], batched: [] as number[], failure: undefined as string | undefined },
    ]),
  );
  for (let round = 1; round <= config.enqueueRounds; round++) {
    for (const system of systems) {
      const rates = rounds.get(system)!;
      if (rates.failure) continue;
      try {
        const eachMs = await system.enqueueEach(config.enqueueEach);
        const batchedMs = await system.enqueueBatches(config.enqueueBatched, config.enqueueBatchSize);
        rates.each.push(rate(config.enqueueEach, eachMs));
        rates.batched.push(rate(config.enqueueBatched, batchedMs));
        process.stderr.write(
          `  enqueue round ${round} ${system.name}: ${Math.round(rates.each.at(-1)!)} / ${Math.round(rates.batched.at(-1)!)} tasks/s\n`,
        );
      } catch (error) {
        rates.failure = `round ${round}: ${messageOf(error)}`;
        process.stderr.write(`  enqueue ${system.name} failed: ${rates.failure}\n`);
      }
    }
  }
  return systems.map((system) => {
    const { each, batched, failure } = rounds.get(system)!;
    return {
      ...(failure ? { failure } : {}),
      system: system.name,
      eachPerSec: median(each),
      batchedPerSec: median(batched),
      eachRounds: each,
      batchedRounds: batched,
      eachTasks: config.enqueueEach,
      batchedTasks: config.enqueueBatched,
    };
  });
}
