/**
 * 1. Enqueue throughput: tasks one per transaction (BEGIN, the system's enqueue, COMMIT, one after
 * another), and in batches of 100 through each system's batch API.
 * @module
 */
import { performance } from 'node:perf_hooks';
import type { BenchConfig } from '../config.js';
import { rate } from '../stats.js';
import type { System } from '../systems/types.js';

export interface EnqueueResult {
  system: string;
  eachPerSec: number;
  batchedPerSec: number;
  eachTasks: number;
  batchedTasks: number;
}

export async function measureEnqueue(systems: System[], config: BenchConfig): Promise<EnqueueResult[]> {
  const results: EnqueueResult[] = [];
  for (const system of systems) {
    let started = performance.now();
    await system.enqueueEach(config.enqueueEach);
    const eachMs = performance.now() - started;
    started = performance.now();
    await system.enqueueBatches(config.enqueueBatched, config.enqueueBatchSize);
    const batchedMs = performance.now() - started;
    results.push({
      system: system.name,
      eachPerSec: rate(config.enqueueEach, eachMs),
      batchedPerSec: rate(config.enqueueBatched, batchedMs),
      eachTasks: config.enqueueEach,
      batchedTasks: config.enqueueBatched,
    });
  }
  return results;
}
