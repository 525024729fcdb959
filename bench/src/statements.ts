/**
 * A statement-counting wrapper around node-postgres: every query a pool's clients send is counted
 * and timed under a kind chosen by the system's classifier (claim, complete, begin, …). Every
 * system runs on instrumented pools, so round trips, claim latencies and the moment a COMMIT
 * returned are read the same way for all.
 * @module
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { performance } from 'node:perf_hooks';
import pg from 'pg';

/** Names a statement from its SQL text, e.g. `claim` or `complete`. */
export type Classifier = (text: string) => string;

/** What one claiming statement asked for and got, in the order they returned. */
export interface ClaimSize {
  asked: number;
  got: number;
}

/**
 * Reads a claiming statement's size from its text, parameters and returned rows; undefined when
 * the statement does not say how many it asked for.
 */
export type ClaimSizer = (
  kind: string,
  text: string,
  values: unknown[] | undefined,
  rows: number,
) => ClaimSize | undefined;

/** The kinds of statement that claim tasks, across the systems' classifiers. */
export const CLAIM_KINDS: ReadonlySet<string> = new Set(['claim', 'complete+claim']);

/**
 * The first `LIMIT` of a claiming statement, literal or a parameter, as what it asked for; the
 * rows it returned as what it got.
 */
export const limitClaimSizer: ClaimSizer = (_kind, text, values, rows) => {
  const match = /\blimit\s+(?:\$(\d+)|(\d+))/i.exec(text);
  if (!match) return undefined;
  const asked = Number(match[1] ? values?.[Number(match[1]) - 1] : match[2]);
  return Number.isFinite(asked) ? { asked, got: rows } : undefined;
};

/** Where {@link timeCommit} collects the moment the COMMIT of the work it runs returned. */
const commitClock = new AsyncLocalStorage<{ at: number }>();

/**
 * Runs `work` and resolves to the moment (performance.now()) its last COMMIT's reply reached the
 * driver, as the instrumented clients saw it, or NaN when it sent none. Concurrent calls each see
 * their own COMMIT: the moment travels with the async context of the call.
 */
export async function timeCommit(work: () => Promise<unknown>): Promise<number> {
  const clock = { at: Number.NaN };
  await commitClock.run(clock, work);
  return clock.at;
}

/** Stops the async-context tracking {@link timeCommit} needs, so later measurements run without it. */
export function stopTimingCommits(): void {
  commitClock.disable();
}

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
  /** Statements sent and not yet answered. */
  inflight = 0;
  /** Each claiming statement's size, while {@link recordClaims} is set (the scale-out consumers). */
  readonly claims: ClaimSize[] = [];
  recordClaims = false;

  constructor(
    readonly classify: Classifier,
    readonly claimSize: ClaimSizer = limitClaimSizer,
  ) {}

  /** Called as a statement is sent; the function it returns, when its reply (or error) arrived. */
  begin(text: string, values?: unknown[]): (result?: unknown) => void {
    const kind = this.classify(text);
    const started = performance.now();
    const clock = kind === 'commit' ? commitClock.getStore() : undefined;
    let ended = false;
    this.inflight++;
    return (result?: unknown) => {
      if (ended) return;
      ended = true;
      this.inflight--;
      const now = performance.now();
      if (clock) clock.at = now;
      const rows = (result as { rows?: unknown } | undefined)?.rows;
      if (this.recordClaims && CLAIM_KINDS.has(kind) && Array.isArray(rows)) {
        const size = this.claimSize(kind, text, values, rows.length);
        if (size) this.claims.push(size);
      }
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
    this.claims.length = 0;
  }
}

type QueryFn = (...args: unknown[]) => unknown;

/** Wraps `client.query` so that every statement it sends is recorded in `log`. */
export function instrumentClient(client: pg.ClientBase, log: StatementLog): void {
  const original = client.query.bind(client) as QueryFn;
  (client as unknown as { query: QueryFn }).query = (...args: unknown[]) => {
    const [config, second] = args;
    const text =
      typeof config === 'string' ? config : String((config as { text?: unknown } | null)?.text ?? '');
    const values = Array.isArray(second)
      ? second
      : ((config as { values?: unknown[] } | null)?.values ?? undefined);
    const end = log.begin(text, values);
    const last = args.length - 1;
    const callback = args[last];
    if (typeof callback === 'function') {
      args[last] = (error: unknown, result: unknown) => {
        end(error ? undefined : result);
        (callback as (error: unknown, result: unknown) => void)(error, result);
      };
      return original(...args);
    }
    const result = original(...args);
    if (result && typeof (result as Promise<unknown>).then === 'function') {
      (result as Promise<unknown>).then(end, () => end());
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
