/**
 * 6. Memory: the peak resident set size while draining a small and a large backlog, each in a
 * fresh process running one system (the queue filled by SQL, so filling costs the process
 * nothing). A consumer whose memory does not grow with the backlog shows about the same peak for
 * both, and keeps nothing after a full garbage collection.
 * @module
 */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { BenchConfig } from '../config.js';
import type { System } from '../systems/types.js';

const run = promisify(execFile);
const child = fileURLToPath(new URL('../memory-child.ts', import.meta.url));

export interface MemoryRun {
  tasks: number;
  /** RSS when draining started, after a full garbage collection. */
  baselineMiB: number;
  peakMiB: number;
  /** Heap in use after draining and a full garbage collection: what the drain left behind. */
  retainedHeapMiB: number;
}

export interface MemoryResult {
  system: string;
  small: MemoryRun;
  large: MemoryRun;
  /** Peak with the large backlog over peak with the small one. */
  peakRatio: number;
}

const MiB = 1024 * 1024;

async function sample(
  system: string,
  tasks: number,
  url: string,
  postgresVersion: string,
): Promise<MemoryRun> {
  const { stdout } = await run(
    process.execPath,
    ['--expose-gc', '--import', 'tsx', child, system, String(tasks), url, postgresVersion],
    { maxBuffer: 16 * 1024 * 1024 },
  ).catch((error: { stderr?: string }) => {
    throw new Error(
      `memory sample of ${system} failed: ${error.stderr?.trim().split('\n')[0] ?? String(error)}`,
    );
  });
  const result = JSON.parse(stdout.trim().split('\n').at(-1)!) as {
    tasks: number;
    baseline: number;
    peak: number;
    retainedHeap: number;
  };
  return {
    tasks: result.tasks,
    baselineMiB: result.baseline / MiB,
    peakMiB: result.peak / MiB,
    retainedHeapMiB: result.retainedHeap / MiB,
  };
}

export async function measureMemory(
  systems: System[],
  config: BenchConfig,
  url: string,
  postgresVersion: string,
): Promise<MemoryResult[]> {
  const results: MemoryResult[] = [];
  for (const system of systems) {
    const small = await sample(system.name, config.memorySmall, url, postgresVersion);
    const large = await sample(system.name, config.memoryLarge, url, postgresVersion);
    results.push({ system: system.name, small, large, peakRatio: large.peakMiB / small.peakMiB });
    process.stderr.write(
      `  memory ${system.name}: ${small.peakMiB.toFixed(0)} → ${large.peakMiB.toFixed(0)} MiB\n`,
    );
  }
  return results;
}
