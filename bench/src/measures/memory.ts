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
  /** Tasks drained: fewer than asked when the run reached its time cap. */
  tasks: number;
  capped: boolean;
  /** RSS when draining started, after a full garbage collection. */
  baselineMiB: number;
  peakMiB: number;
  /** Heap in use after draining and a full garbage collection: what the drain left behind. */
  retainedHeapMiB: number;
}

export type MemoryResult =
  | {
      system: string;
      small: MemoryRun;
      large: MemoryRun;
      /** Peak with the large backlog over peak with the small one. */
      peakRatio: number;
    }
  | {
      system: string /** Why a sample could not be taken; the other systems are still measured. */;
      failure: string;
    };

/** The line of a failed child's stderr that names the error, rather than the stack's first frame. */
function errorLine(stderr: string | undefined): string | undefined {
  const lines = stderr?.trim().split('\n') ?? [];
  return lines.find((line) => /^\s*(\w*Error\b|error:)/i.test(line))?.trim() ?? lines[0];
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
      `memory sample of ${system} (${tasks} tasks) failed: ${errorLine(error.stderr) ?? String(error)}`,
    );
  });
  const result = JSON.parse(stdout.trim().split('\n').at(-1)!) as {
    tasks: number;
    capped: boolean;
    baseline: number;
    peak: number;
    retainedHeap: number;
  };
  return {
    tasks: result.tasks,
    capped: result.capped,
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
    try {
      const small = await sample(system.name, config.memorySmall, url, postgresVersion);
      const large = await sample(system.name, config.memoryLarge, url, postgresVersion);
      results.push({ system: system.name, small, large, peakRatio: large.peakMiB / small.peakMiB });
      process.stderr.write(
        `  memory ${system.name}: ${small.peakMiB.toFixed(0)} → ${large.peakMiB.toFixed(0)} MiB\n`,
      );
    } catch (error) {
      const failure = error instanceof Error ? error.message : String(error);
      results.push({ system: system.name, failure });
      process.stderr.write(`  ${failure}\n`);
    }
  }
  return results;
}
