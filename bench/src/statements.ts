/**
 * A statement-counting wrapper around node-postgres: every query a pool's clients send is counted
 * and timed under a kind chosen by the system's classifier (claim, complete, begin, …). All four
 * systems run on instrumented pools, so round trips and claim latencies are read the same way.
 * @module
 */
import { performance } from 'node:perf_hooks';
import pg from 'pg';

/** Names a statement from its SQL text, e.g. `claim` or `complete`. */
export type Classifier = (text: string) => string;

export interface KindStats {
  count: number;
  totalMs: number;
  /** Durations of the last statements of this kind (bounded), for percentiles. */
  samples: number[];
}

const MAX_SAMPLES = 20_000;

export class StatementLog {
  readonly kinds = new Map<string, KindStats>();
  /** When the latest statement of each kind returned (performance.now()). */
  readonly lastEnd = new Map<string, number>();

  constructor(readonly classify: Classifier) {}

  begin(text: string): () => void {
    const kind = this.classify(text);
    const started = performance.now();
    let ended = false;
    return () => {
      if (ended) return;
      ended = true;
      const now = performance.now();
      let stats = this.kinds.get(kind);
      if (!stats) {
        stats = { count: 0, totalMs: 0, samples: [] };
        this.kinds.set(kind, stats);
      }
      stats.count++;
      stats.totalMs += now - started;
      if (stats.samples.length < MAX_SAMPLES) stats.samples.push(now - started);
      this.lastEnd.set(kind, now);
    };
  }

  count(kind: string): number {
    return this.kinds.get(kind)?.count ?? 0;
  }

  total(): number {
    let total = 0;
    for (const stats of this.kinds.values()) total += stats.count;
    return total;
  }

  /** Counts per kind, sorted by kind. */
  counts(): Record<string, number> {
    return Object.fromEntries([...this.kinds.entries()].sort().map(([kind, stats]) => [kind, stats.count]));
  }

  reset(): void {
    this.kinds.clear();
    this.lastEnd.clear();
  }
}

type QueryFn = (...args: unknown[]) => unknown;

/** Wraps `client.query` so that every statement it sends is recorded in `log`. */
export function instrumentClient(client: pg.ClientBase, log: StatementLog): void {
  const original = client.query.bind(client) as QueryFn;
  (client as unknown as { query: QueryFn }).query = (...args: unknown[]) => {
    const [config] = args;
    const text =
      typeof config === 'string' ? config : String((config as { text?: unknown } | null)?.text ?? '');
    const end = log.begin(text);
    const last = args.length - 1;
    const callback = args[last];
    if (typeof callback === 'function') {
      args[last] = (error: unknown, result: unknown) => {
        end();
        (callback as (error: unknown, result: unknown) => void)(error, result);
      };
      return original(...args);
    }
    const result = original(...args);
    if (result && typeof (result as Promise<unknown>).then === 'function') {
      (result as Promise<unknown>).then(end, end);
    } else {
      // A submittable (cursor, stream): counted, not timed.
      end();
    }
    return result;
  };
}

/** A node-postgres pool whose every connection is instrumented. */
export function instrumentedPool(config: pg.PoolConfig, log: StatementLog): pg.Pool {
  const pool = new pg.Pool(config);
  pool.on('connect', (client) => instrumentClient(client, log));
  // An idle client's error (e.g. the database dropped at the end) must not crash the run.
  pool.on('error', () => {});
  return pool;
}
