/**
 * 3b. Steady state: producers enqueue at a fixed offered rate, one task per transaction, while the
 * consumers run; the rate steps up (doubling, then halving the last interval) until a step ends
 * with a backlog that grew. Reported: the highest rate sustained, and the commit-to-start latency
 * of every task of a step at half that rate. What an operator sizes a queue by.
 *
 * A step is sustained when the producers got at least 95 % of its tasks committed within it and,
 * at its end, the tasks committed but not started are at most 5 % of the step's tasks, plus what
 * arrives during one poll of a polling consumer, plus twice the concurrency. Before the next step
 * the backlog must clear.
 * @module
 */
import { performance } from 'node:perf_hooks';
import type { BenchConfig } from '../config.js';
import { readCpu } from '../cpu.js';
import { stopTimingCommits, timeCommit } from '../statements.js';
import { type Latency, latencyOf, median } from '../stats.js';
import { messageOf, type SteadySession, type SteadyVariant, type System, sleep } from '../systems/types.js';

export interface SteadyStep {
  /** Offered tasks per second. */
  rate: number;
  /** Tasks the step offered, and those whose COMMIT returned within it. */
  offered: number;
  committed: number;
  /** Tasks committed but not started when the step ended. */
  backlog: number;
  sustained: boolean;
  /** What fell short: the producers (enqueue) or the consumers (backlog). */
  limitedBy?: 'producers' | 'consumers';
}

export interface SteadyLatency extends Latency {
  /** The offered rate of the latency step. */
  rate: number;
  /** Tasks of the step that had not started when it was given up on. */
  missing: number;
  /** CPU µs per task during the step: this process (producers and consumers) and Postgres. */
  clientCpu: number;
  databaseCpu: number | null;
}

export interface SteadyRound {
  steps: SteadyStep[];
  /** The highest offered rate sustained, 0 when not even the first was. */
  sustained: number;
  latency?: SteadyLatency;
}

export interface SteadyResult {
  system: string;
  variant: string;
  settings: string;
  best: boolean;
  rounds: SteadyRound[];
  /** Median over the rounds. */
  sustained: number;
  /** Median over the rounds of each latency figure (max: the highest). */
  latency?: SteadyLatency;
  failure?: string;
}

/** The ladder's first rate, tasks/s; then it doubles. */
const FIRST_RATE = 100;
/** A step whose backlog does not clear in this long ends the ladder. */
const CLEAR_WAIT_MS = 5000;

class Ladder {
  readonly commitAt: number[] = [];
  readonly startAt: number[] = [];
  committed = 0;
  started = 0;
  next = 0;

  constructor(
    readonly session: SteadySession,
    readonly variant: SteadyVariant,
    readonly config: BenchConfig,
  ) {}

  onStart = (i: number) => {
    if (this.startAt[i] !== undefined) return;
    this.startAt[i] = performance.now();
    this.started++;
  };

  get backlog(): number {
    return this.committed - this.started;
  }

  /** Offers `rate` tasks/s for `ms`, from the producers, each task due at its time in the schedule. */
  async offer(rate: number, ms: number): Promise<{ first: number; offered: number; committed: number }> {
    const offered = Math.max(1, Math.round((rate * ms) / 1000));
    const first = this.next;
    this.next += offered;
    const begin = performance.now();
    const end = begin + ms;
    let k = 0;
    let committed = 0;
    let failed = false;
    const producer = async () => {
      for (;;) {
        const index = k++;
        if (index >= offered || failed) return;
        const due = begin + (index * 1000) / rate;
        const wait = due - performance.now();
        if (wait > 0) await sleep(wait);
        // Behind schedule: what the producers could not send within the step is not offered.
        if (performance.now() > end) return;
        const i = first + index;
        try {
          this.commitAt[i] = await timeCommit(() => this.session.enqueue(i));
        } catch (error) {
          // The other producers stop too, before the session is closed under them.
          failed = true;
          throw error;
        }
        this.committed++;
        committed++;
      }
    };
    const outcomes = await Promise.allSettled(Array.from({ length: this.config.steadyProducers }, producer));
    const rejected = outcomes.find((outcome) => outcome.status === 'rejected');
    if (rejected) throw rejected.reason;
    return { first, offered, committed };
  }

  async step(rate: number): Promise<SteadyStep> {
    const { offered, committed } = await this.offer(rate, this.config.steadyStepMs);
    const backlog = this.backlog;
    const allowance =
      0.05 * committed + (rate * (this.variant.pollMs + 20)) / 1000 + 2 * this.config.concurrency;
    const limitedBy =
      committed < 0.95 * offered ? 'producers' : backlog > allowance ? 'consumers' : undefined;
    const result: SteadyStep = { rate, offered, committed, backlog, sustained: limitedBy === undefined };
    if (limitedBy) result.limitedBy = limitedBy;
    process.stderr.write(
      `    ${rate}/s: ${committed}/${offered} committed, backlog ${backlog}${limitedBy ? ` (limited by the ${limitedBy})` : ''}\n`,
    );
    return result;
  }

  /** Waits until every committed task started; false when that took longer than `ms`. */
  async clear(ms = CLEAR_WAIT_MS): Promise<boolean> {
    const deadline = performance.now() + ms;
    while (this.backlog > 0) {
      if (performance.now() > deadline) return false;
      await sleep(10);
    }
    return true;
  }

  async latency(rate: number): Promise<SteadyLatency> {
    const before = readCpu();
    const { first, offered } = await this.offer(rate, this.config.steadyLatencyMs);
    await this.clear();
    const after = readCpu();
    const samples: number[] = [];
    let missing = 0;
    for (let i = first; i < first + offered; i++) {
      const committed = this.commitAt[i];
      const started = this.startAt[i];
      if (committed === undefined) continue;
      if (started === undefined) missing++;
      else samples.push(started - committed);
    }
    const tasks = Math.max(1, samples.length + missing);
    return {
      rate,
      missing,
      ...latencyOf(samples),
      clientCpu: (after.clientUs - before.clientUs) / tasks,
      databaseCpu:
        after.databaseUs === null || before.databaseUs === null
          ? null
          : (after.databaseUs - before.databaseUs) / tasks,
    };
  }
}

/** One ladder on a fresh session: doubling rates, then `steadyRefine` halvings, then the latency step. */
async function climb(system: System, variant: SteadyVariant, config: BenchConfig): Promise<SteadyRound> {
  let ladder: Ladder | undefined;
  const session = await system.steady(variant, {
    producers: config.steadyProducers,
    concurrency: config.concurrency,
    onStart: (i) => ladder?.onStart(i),
  });
  ladder = new Ladder(session, variant, config);
  const steps: SteadyStep[] = [];
  try {
    let sustained = 0;
    let failed = Number.POSITIVE_INFINITY;
    let cleared = true;
    const tryRate = async (rate: number) => {
      const step = await ladder!.step(rate);
      steps.push(step);
      cleared = await ladder!.clear();
      await sleep(100);
      if (step.sustained) sustained = Math.max(sustained, rate);
      else failed = Math.min(failed, rate);
      return step.sustained && cleared;
    };
    for (let rate = FIRST_RATE; rate <= config.steadyMaxRate; rate *= 2) {
      if (!(await tryRate(rate))) break;
    }
    for (let refine = 0; refine < config.steadyRefine && cleared && Number.isFinite(failed); refine++) {
      const low = Math.max(sustained, FIRST_RATE / 2);
      const rate = Math.round(Math.sqrt(low * failed) / 10) * 10;
      if (rate <= low || rate >= failed) break;
      await tryRate(rate);
    }
    const round: SteadyRound = { steps, sustained };
    if (cleared || (await ladder.clear(2 * CLEAR_WAIT_MS))) {
      const rate = Math.max(1, Math.round((sustained > 0 ? sustained : FIRST_RATE) / 2));
      round.latency = await ladder.latency(rate);
      process.stderr.write(
        `    latency at ${rate}/s: p50 ${round.latency.p50.toFixed(2)} ms, p99 ${round.latency.p99.toFixed(2)} ms\n`,
      );
    }
    return round;
  } finally {
    await session.close();
  }
}

export async function measureSteady(systems: System[], config: BenchConfig): Promise<SteadyResult[]> {
  const results = new Map<string, SteadyResult>();
  try {
    for (let round = 0; round < config.steadyRounds; round++) {
      const order = round % 2 === 1 ? [...systems].reverse() : systems;
      for (const system of order) {
        for (const variant of system.steadyVariants) {
          if (round > 0 && !variant.best) continue;
          const key = `${system.name}/${variant.name}`;
          const result: SteadyResult = results.get(key) ?? {
            system: system.name,
            variant: variant.name,
            settings: variant.settings,
            best: variant.best,
            rounds: [],
            sustained: Number.NaN,
          };
          results.set(key, result);
          if (result.failure) continue;
          process.stderr.write(`  steady ${key}, round ${round + 1}:\n`);
          try {
            result.rounds.push(await climb(system, variant, config));
            summarize(result);
            process.stderr.write(`  steady ${key}: ${result.rounds.at(-1)!.sustained}/s sustained\n`);
          } catch (error) {
            result.failure = `round ${round + 1}: ${messageOf(error)}`;
            process.stderr.write(`  steady ${key} failed: ${result.failure}\n`);
          }
        }
      }
    }
  } finally {
    stopTimingCommits();
  }
  return [...results.values()];
}

function summarize(result: SteadyResult): void {
  result.sustained = median(result.rounds.map((round) => round.sustained));
  const latencies = result.rounds.flatMap((round) => (round.latency ? [round.latency] : []));
  if (latencies.length === 0) return;
  const of = (key: 'rate' | 'p50' | 'p95' | 'p99' | 'mean' | 'clientCpu') =>
    median(latencies.map((latency) => latency[key]));
  const database = latencies.flatMap((latency) =>
    latency.databaseCpu === null ? [] : [latency.databaseCpu],
  );
  result.latency = {
    rate: of('rate'),
    samples: latencies.reduce((sum, latency) => sum + latency.samples, 0),
    missing: latencies.reduce((sum, latency) => sum + latency.missing, 0),
    p50: of('p50'),
    p95: of('p95'),
    p99: of('p99'),
    mean: of('mean'),
    max: Math.max(...latencies.map((latency) => latency.max)),
    clientCpu: of('clientCpu'),
    databaseCpu: database.length > 0 ? median(database) : null,
  };
}

/** gta's sustained rate over each other system's best, round by round. */
export function steadyRatios(results: SteadyResult[], gtaVariant: string) {
  const gta = results.find((result) => result.system === 'gta' && result.variant === gtaVariant);
  if (!gta || gta.rounds.length === 0) return [];
  return results
    .filter((result) => result.best && result.system !== 'gta' && result.rounds.length > 0)
    .map((peer) => {
      const rounds = Math.min(gta.rounds.length, peer.rounds.length);
      const ratios = Array.from(
        { length: rounds },
        (_, i) => gta.rounds[i]!.sustained / peer.rounds[i]!.sustained,
      );
      return {
        against: `${peer.system} ${peer.variant}`,
        ratio: median(ratios),
        lowest: Math.min(...ratios),
        highest: Math.max(...ratios),
        rounds,
      };
    });
}
