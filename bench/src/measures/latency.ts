/**
 * 3. Commit-to-start latency on an idle system: from the moment the enqueuing transaction's COMMIT
 * returned (read by the statement-counting wrapper) to the handler's first line, one task at a time.
 * @module
 */
import { type Latency, latencyOf } from '../stats.js';
import { messageOf, type System } from '../systems/types.js';

export interface LatencyResult extends Latency {
  system: string;
  variant: string;
  settings: string;
  failure?: string;
}

export async function measureLatency(systems: System[]): Promise<LatencyResult[]> {
  const results: LatencyResult[] = [];
  for (const system of systems) {
    for (const variant of system.latencyVariants) {
      const described = { system: system.name, variant: variant.name, settings: variant.settings };
      try {
        const samples = await system.latency(variant);
        results.push({ ...described, ...latencyOf(samples) });
        process.stderr.write(
          `  latency ${system.name}/${variant.name}: p50 ${latencyOf(samples).p50.toFixed(2)} ms\n`,
        );
      } catch (error) {
        results.push({ ...described, ...latencyOf([]), failure: messageOf(error) });
        process.stderr.write(`  latency ${system.name}/${variant.name} failed: ${messageOf(error)}\n`);
      }
    }
  }
  return results;
}
