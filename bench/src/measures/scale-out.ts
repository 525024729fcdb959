/**
 * 5b. Scale-out: 1, 2, 4 and 8 consumer processes (as many cron invocations, or instances, would
 * be) draining one pre-filled shared queue of `scaleOutTasks` due no-op tasks, each process running
 * the system's best drain configuration at concurrency 10. The processes are started and set up
 * before the clock starts and kept for every count, and they all drain a smaller queue once first
 * (their code warm); each sets its consumer up on the queue (gta's manager, for one) before the
 * clock starts, which runs from telling them to start until the queue holds no task not done.
 *
 * Claim conflicts are counted where they show: claims that came back with fewer tasks than they
 * asked for while more were due (the process claimed more afterwards), lock waits seen in
 * `pg_locks` (sampled every 20 ms), and errors the consumers raised or logged.
 * @module
 */
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import type { BenchConfig } from '../config.js';
import { readCpu } from '../cpu.js';
import type { ChildReport } from '../scale-out-child.js';
import { rate } from '../stats.js';
import { messageOf, pollUntil, type System } from '../systems/types.js';

const childPath = fileURLToPath(new URL('../scale-out-child.ts', import.meta.url));
/** Tasks of the warm-up drain all the processes share before the measured ones. */
const WARM_UP_TASKS = 2000;
/** How long a child may take to start, set up, or answer `stop`. */
const CHILD_WAIT_MS = 60_000;

export interface ScaleOutRun {
  processes: number;
  tasks: number;
  ms: number;
  perSec: number;
  /** Stopped at the time cap before the queue was empty. */
  capped: boolean;
  /** Handlers each process ran. */
  perProcess: number[];
  claims: number;
  shortClaims: number;
  /** Short claims after which the same process still found due tasks. */
  shortClaimsWhileDue: number;
  errors: number;
  /** The first few errors, as reported. */
  errorSamples: string[];
  /** Samples of pg_locks that found a session waiting for a lock, of all samples taken. */
  lockWaitSamples: number;
  samples: number;
  /** CPU µs per task: all consumer processes together, and Postgres. */
  clientCpu: number;
  databaseCpu: number | null;
}

export interface ScaleOutResult {
  system: string;
  variant: string;
  runs: ScaleOutRun[];
  failure?: string;
}

/** A consumer process, talked to by lines. */
class Child {
  readonly process: ChildProcessWithoutNullStreams;
  readonly #lines: string[] = [];
  readonly #waiting: ((line: string) => void)[] = [];
  #stderr = '';
  readonly exited: Promise<number | null>;

  constructor(system: string, url: string, postgresVersion: string, concurrency: number) {
    this.process = spawn(
      process.execPath,
      ['--import', 'tsx', childPath, system, url, postgresVersion, String(concurrency)],
      { stdio: ['pipe', 'pipe', 'pipe'] },
    );
    this.process.stderr.on('data', (chunk: Buffer) => {
      this.#stderr = (this.#stderr + chunk.toString()).slice(-4000);
    });
    createInterface({ input: this.process.stdout }).on('line', (line) => {
      const waiter = this.#waiting.shift();
      if (waiter) waiter(line);
      else this.#lines.push(line);
    });
    this.exited = new Promise((resolve) => this.process.on('exit', resolve));
  }

  /** The child's next line, or an error naming its stderr when it ends or takes too long. */
  next(): Promise<string> {
    const line = this.#lines.shift();
    if (line !== undefined) return Promise.resolve(line);
    return new Promise((resolve, reject) => {
      const waiter = (next: string) => {
        clearTimeout(timer);
        resolve(next);
      };
      const fail = (what: string) => {
        clearTimeout(timer);
        const index = this.#waiting.indexOf(waiter);
        if (index >= 0) this.#waiting.splice(index, 1);
        reject(this.#failure(what));
      };
      const timer = setTimeout(() => fail('did not answer in time'), CHILD_WAIT_MS);
      void this.exited.then(() => fail('ended'));
      this.#waiting.push(waiter);
    });
  }

  #failure(what: string): Error {
    const lines = this.#stderr.trim().split('\n');
    const reason = lines.find((line) => /^\s*(\w*Error\b|error:)/i.test(line)) ?? lines.at(-1) ?? '';
    return new Error(`consumer process ${what}${reason ? `: ${reason.trim()}` : ''}`);
  }

  send(line: string): void {
    this.process.stdin.write(`${line}\n`);
  }

  /** Asks it to exit; ends it (by its own pid) when it does not within a few seconds. */
  async close(): Promise<void> {
    if (this.process.exitCode !== null) return;
    this.send('exit');
    const timer = setTimeout(() => this.process.kill(), 5000);
    await this.exited;
    clearTimeout(timer);
  }
}

/** Samples pg_locks on the bench database every 20 ms for sessions waiting on a lock. */
async function watchLocks(url: string) {
  const client = new pg.Client({ connectionString: url });
  client.on('error', () => {});
  await client.connect();
  let samples = 0;
  let waiting = 0;
  let stopped = false;
  const loop = (async () => {
    while (!stopped) {
      try {
        const { rows } = await client.query<{ count: string }>(
          `select count(*) from pg_locks as l join pg_stat_activity as a on a.pid = l.pid
           where not l.granted and a.datname = current_database()`,
        );
        samples++;
        if (Number(rows[0]!.count) > 0) waiting++;
      } catch {
        return;
      }
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  })();
  return {
    stop: async () => {
      stopped = true;
      await loop;
      await client.end().catch(() => {});
      return { samples, waiting };
    },
  };
}

async function runProcesses(
  system: System,
  children: Child[],
  processes: number,
  tasksToRun: number,
  config: BenchConfig,
  url: string,
): Promise<ScaleOutRun> {
  const queue = await system.fillShared(tasksToRun);
  const active = children.slice(0, processes);
  let running = false;
  try {
    for (const child of active) child.send(`prepare ${queue}`);
    for (const child of active) {
      const line = await child.next();
      if (line !== 'prepared') throw new Error(`consumer process said ${line.slice(0, 200)}`);
    }
    const locks = await watchLocks(url);
    const cpuAtStart = readCpu();
    const started = performance.now();
    running = true;
    for (const child of active) child.send('go');
    const emptied = await pollUntil(
      async () => (await system.remaining(queue)) === 0,
      started + config.drainTimeLimitMs * 2,
      10,
    );
    const ms = performance.now() - started;
    for (const child of active) child.send('stop');
    const reports = await Promise.all(
      active.map(async (child) => JSON.parse(await child.next()) as ChildReport),
    );
    running = false;
    const database = readCpu();
    const lockWaits = await locks.stop();
    const tasks = tasksToRun - (emptied ? 0 : await system.remaining(queue));
    const sum = (pick: (report: ChildReport) => number) =>
      reports.reduce((total, report) => total + pick(report), 0);
    const errors = reports.flatMap((report) => report.errors);
    return {
      processes,
      tasks,
      ms,
      perSec: rate(tasks, ms),
      capped: !emptied,
      perProcess: reports.map((report) => report.done),
      claims: sum((report) => report.claims),
      shortClaims: sum((report) => report.short),
      shortClaimsWhileDue: sum((report) => report.shortThenMore),
      errors: errors.length,
      errorSamples: errors.slice(0, 3),
      lockWaitSamples: lockWaits.waiting,
      samples: lockWaits.samples,
      clientCpu: sum((report) => report.cpuUs) / Math.max(1, tasks),
      databaseCpu:
        database.databaseUs === null || cpuAtStart.databaseUs === null
          ? null
          : (database.databaseUs - cpuAtStart.databaseUs) / Math.max(1, tasks),
    };
  } finally {
    // The queue goes only once its consumers have stopped.
    if (running) {
      for (const child of active) child.send('stop');
      await Promise.all(active.map((child) => child.next().catch(() => '')));
    }
    await system.dropShared(queue);
  }
}

export async function measureScaleOut(
  systems: System[],
  config: BenchConfig,
  url: string,
  postgresVersion: string,
): Promise<ScaleOutResult[]> {
  const results: ScaleOutResult[] = [];
  const most = Math.max(...config.scaleOutProcesses);
  for (const system of systems) {
    const variant = system.drainVariants.find((candidate) => candidate.best)!;
    const result: ScaleOutResult = { system: system.name, variant: variant.name, runs: [] };
    results.push(result);
    const children: Child[] = [];
    try {
      process.stderr.write(`  scale-out ${system.name}: starting ${most} consumer processes…\n`);
      for (let i = 0; i < most; i++) {
        children.push(new Child(system.name, url, postgresVersion, config.concurrency));
      }
      for (const child of children) {
        const line = await child.next();
        if (line !== 'ready') throw new Error(`consumer process said ${line.slice(0, 200)}`);
      }
      // Every process drains a smaller queue once first, so that no count runs on cold code.
      await runProcesses(system, children, most, Math.min(WARM_UP_TASKS, config.scaleOutTasks), config, url);
      for (const processes of config.scaleOutProcesses) {
        const run = await runProcesses(system, children, processes, config.scaleOutTasks, config, url);
        result.runs.push(run);
        process.stderr.write(
          `  scale-out ${system.name} × ${processes}: ${Math.round(run.perSec)} tasks/s, ${run.shortClaimsWhileDue} short claims while due, ${run.lockWaitSamples}/${run.samples} lock-wait samples, ${run.errors} errors${run.capped ? ' (time cap)' : ''}\n`,
        );
      }
    } catch (error) {
      result.failure = messageOf(error);
      process.stderr.write(`  scale-out ${system.name} failed: ${result.failure}\n`);
    } finally {
      await Promise.all(children.map((child) => child.close()));
    }
  }
  return results;
}
