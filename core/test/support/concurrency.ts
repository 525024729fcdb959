/**
 * Helpers for the concurrency suites on the real Postgres: separate connection pools standing in
 * for separate instances, gates that hold a handler until the test opens them, a log of handler
 * executions that catches two runs of one task at once, and a tick loop that drains the table.
 */
import { drizzle, type NodePgDatabase } from 'drizzle-orm/node-postgres';
import pg from 'pg';
import type { LogFields, Logger, TaskManager, TickOptions, TickReport, WaitUntil } from '../../src/index.js';
import { endPool, type TestDatabase } from './databases.js';

/** Connection pools opened by a suite, each standing in for one instance; closed together. */
export class Pools {
  readonly #pools: pg.Pool[] = [];

  /** A drizzle database on a new pool of at most `max` connections to `url`. */
  open(url: string, max: number): { pool: pg.Pool; db: NodePgDatabase } {
    const pool = new pg.Pool({ connectionString: url, max });
    this.#pools.push(pool);
    return { pool, db: drizzle(pool) };
  }

  /**
   * Ends every pool and waits until each client has really disconnected: `pool.end()` resolves
   * before the sockets close, and dropping the database then would kill them mid-goodbye.
   */
  async close(): Promise<void> {
    await Promise.all(this.#pools.splice(0).map(endPool));
  }
}

/** Closes a test database, if it was opened. */
export async function closeDatabase(database: TestDatabase | undefined): Promise<void> {
  await database?.close();
}

/** A promise the test resolves when it wants a handler to go on. */
export class Gate {
  #open: () => void = () => {};
  readonly opened = new Promise<void>((resolve) => {
    this.#open = resolve;
  });

  open(): void {
    this.#open();
  }
}

/** Rejects with a message naming `what` unless `promise` settles within `ms`, so a stuck test fails fast. */
export async function within<T>(ms: number, what: string, promise: Promise<T>): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not happen within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, expired]);
  } finally {
    clearTimeout(timer);
  }
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Collects what `waitUntil` is handed, so a test can await the background work later. */
export function waitUntilCollector(): { waitUntil: WaitUntil; settled(): Promise<void> } {
  const handed: Promise<unknown>[] = [];
  return {
    waitUntil: (promise) => {
      handed.push(promise);
    },
    settled: async () => {
      await Promise.all(handed);
    },
  };
}

export interface LogEntry {
  level: keyof Logger;
  fields: LogFields;
  message: string;
}

/** A logger that keeps every entry, for asserting what the engine reported. */
export function recordingLogger(): Logger & { entries: LogEntry[] } {
  const entries: LogEntry[] = [];
  const at =
    (level: keyof Logger) =>
    (fields: LogFields, message = '') => {
      entries.push({ level, fields, message });
    };
  return { entries, debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}

/**
 * The side table handlers write to: one row per execution, with the lease token the execution
 * held, so the suites can count executions independently of the task table.
 */
export async function createExecutionsTable(database: TestDatabase): Promise<void> {
  await database.exec(`create table executions (
    task_id bigint not null,
    lease_token uuid not null,
    attempt integer not null,
    instance text not null,
    seen_error text,
    started_at timestamptz not null,
    finished_at timestamptz
  )`);
}

/**
 * In-process record of which executions are running, shared by every instance of a suite (they all
 * live in this process): starting a task that is already running, or a sequence key whose earlier
 * task is still running, is recorded as an overlap.
 */
export class ExecutionTracker {
  readonly overlaps: string[] = [];
  /** Every start and end, in the order they happened. */
  readonly events: { kind: 'start' | 'end'; taskId: number; group: string | null; instance: string }[] = [];
  readonly #runningTasks = new Map<number, number>();
  readonly #runningGroups = new Map<string, number>();
  readonly #runningOn = new Map<string, number>();
  /** The most executions each instance had running at once. */
  readonly peakByInstance = new Map<string, number>();

  start(taskId: number, instance: string, group: string | null = null): void {
    this.events.push({ kind: 'start', taskId, group, instance });
    const sameTask = this.#runningTasks.get(taskId) ?? 0;
    if (sameTask > 0) this.overlaps.push(`task ${taskId} started on ${instance} while already running`);
    this.#runningTasks.set(taskId, sameTask + 1);
    const onInstance = (this.#runningOn.get(instance) ?? 0) + 1;
    this.#runningOn.set(instance, onInstance);
    this.peakByInstance.set(instance, Math.max(this.peakByInstance.get(instance) ?? 0, onInstance));
    if (group !== null) {
      const sameGroup = this.#runningGroups.get(group) ?? 0;
      if (sameGroup > 0) {
        this.overlaps.push(`task ${taskId} of ${group} started on ${instance} while another of its key ran`);
      }
      this.#runningGroups.set(group, sameGroup + 1);
    }
  }

  end(taskId: number, instance: string, group: string | null = null): void {
    this.events.push({ kind: 'end', taskId, group, instance });
    this.#runningTasks.set(taskId, (this.#runningTasks.get(taskId) ?? 1) - 1);
    this.#runningOn.set(instance, (this.#runningOn.get(instance) ?? 1) - 1);
    if (group !== null) this.#runningGroups.set(group, (this.#runningGroups.get(group) ?? 1) - 1);
  }
}

/** How many tasks (built-ins excluded) are still `initialized` or `running`. */
export async function unfinishedCount(database: TestDatabase, table = 'gta_tasks'): Promise<number> {
  const [row] = await database.query<{ count: number }>(
    `select count(*)::int as count from "${table}" where status in ('initialized', 'running') and task_key not like 'gta:%'`,
  );
  return row?.count ?? 0;
}

/**
 * One instance's scanner: calls `tick` until the table has no unfinished task or `deadline`
 * (epoch ms) passes, pausing up to `pauseMs` (random, so instances interleave) when a tick found
 * nothing to claim while other instances still hold tasks.
 */
export async function tickUntilDrained(
  manager: TaskManager,
  database: TestDatabase,
  options: { tick: TickOptions; deadline: number; pauseMs: number },
): Promise<TickReport[]> {
  const reports: TickReport[] = [];
  while (Date.now() < options.deadline) {
    const report = await manager.tick(options.tick);
    reports.push(report);
    if (report.claimed > 0) continue;
    if ((await unfinishedCount(database)) === 0) break;
    await sleep(Math.random() * options.pauseMs);
  }
  return reports;
}

export type TickTotals = Pick<TickReport, 'claimed' | 'succeeded' | 'failed' | 'retried' | 'rescued'>;

/** Sums the counters of many tick reports. */
export function totals(reports: TickReport[]): TickTotals {
  const sum: TickTotals = { claimed: 0, succeeded: 0, failed: 0, retried: 0, rescued: 0 };
  for (const report of reports) {
    for (const name of Object.keys(sum) as (keyof TickTotals)[]) sum[name] += report[name];
  }
  return sum;
}
