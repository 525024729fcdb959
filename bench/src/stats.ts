/** Summaries of samples: percentiles, means, rates, medians over rounds. @module */

export function percentile(samples: number[], p: number): number {
  if (samples.length === 0) return Number.NaN;
  const sorted = [...samples].sort((a, b) => a - b);
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[index]!;
}

export function mean(samples: number[]): number {
  return samples.length === 0 ? Number.NaN : samples.reduce((sum, x) => sum + x, 0) / samples.length;
}

export function median(samples: number[]): number {
  return percentile(samples, 50);
}

export interface Latency {
  samples: number;
  p50: number;
  p95: number;
  p99: number;
  mean: number;
  max: number;
}

export function latencyOf(samples: number[]): Latency {
  return {
    samples: samples.length,
    p50: percentile(samples, 50),
    p95: percentile(samples, 95),
    p99: percentile(samples, 99),
    mean: mean(samples),
    max: Math.max(...samples),
  };
}

/** Tasks per second. */
export function rate(tasks: number, ms: number): number {
  return ms > 0 ? tasks / (ms / 1000) : Number.NaN;
}
