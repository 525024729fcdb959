/**
 * 5. Scale: the same due tasks drained from a table holding only them, and from one that also
 * holds a large backlog (half finished, half not yet due; only not yet due where finished jobs are
 * deleted), filled with one INSERT … SELECT generate_series and analyzed. The ratios large/small
 * of drain time and of the claim statement's mean latency should stay near 1.
 * @module
 */
import type { BenchConfig } from '../config.js';
import { mean, rate } from '../stats.js';
import { type DrainRun, messageOf, type System } from '../systems/types.js';

export interface ScaleRun {
  tableRows: number;
  perSec: number;
  claimMeanMs: number;
  claims: number;
}

export type ScaleResult = ScaleFigures | { system: string; variant: string; failure: string };

export interface ScaleFigures {
  system: string;
  variant: string;
  small: ScaleRun;
  large: ScaleRun;
  /** Claim latency, large table over small (target at most 1.3). */
  claimRatio: number;
  /** Drain throughput, small table over large. */
  throughputRatio: number;
}

function summary(run: DrainRun, tableRows: number): ScaleRun {
  return {
    tableRows,
    perSec: rate(run.tasks, run.ms),
    claimMeanMs: mean(run.claimMs),
    claims: run.claimMs.length,
  };
}

export async function measureScale(systems: System[], config: BenchConfig): Promise<ScaleResult[]> {
  const results: ScaleResult[] = [];
  for (const system of systems) {
    const variant = system.drainVariants.find((candidate) => candidate.best)!;
    const input = {
      tasks: config.scaleDue,
      concurrency: config.concurrency,
      timeLimitMs: config.drainTimeLimitMs,
    };
    let small: ScaleRun;
    let large: ScaleRun;
    try {
      small = summary(await system.drain(variant, input), config.scaleDue);
      large = summary(
        await system.drain(variant, { ...input, backlog: config.scaleTableRows - config.scaleDue }),
        config.scaleTableRows,
      );
    } catch (error) {
      results.push({ system: system.name, variant: variant.name, failure: messageOf(error) });
      process.stderr.write(`  scale ${system.name} failed: ${messageOf(error)}\n`);
      continue;
    }
    results.push({
      system: system.name,
      variant: variant.name,
      small,
      large,
      claimRatio: large.claimMeanMs / small.claimMeanMs,
      throughputRatio: small.perSec / large.perSec,
    });
    process.stderr.write(
      `  scale ${system.name}: claim ${small.claimMeanMs.toFixed(2)} → ${large.claimMeanMs.toFixed(2)} ms\n`,
    );
  }
  return results;
}
