/** The run's figures as Markdown tables, printed and saved beside the JSON. @module */
import type { BenchConfig } from '../config.js';
import type { BundleResult } from '../measures/bundle.js';
import { type DrainResult, drainRatios, type RoundRatio, roundRatio } from '../measures/drain.js';
import type { EdgeResult } from '../measures/edge.js';
import type { EnqueueResult } from '../measures/enqueue.js';
import type { LatencyResult } from '../measures/latency.js';
import type { MemoryResult } from '../measures/memory.js';
import type { RoundTripResult } from '../measures/round-trips.js';
import type { ScaleResult } from '../measures/scale.js';
import type { ScaleOutResult } from '../measures/scale-out.js';
import { type SteadyResult, steadyRatios } from '../measures/steady.js';
import { median } from '../stats.js';
import { edgeMarkdown, edgeTargets } from './edge.js';
import type { Machine } from './machine.js';

export interface Results {
  startedAt: string;
  command: string;
  config: BenchConfig;
  machine: Machine;
  versions: Record<string, string>;
  enqueue?: EnqueueResult[] | undefined;
  drain?: DrainResult[] | undefined;
  /** 2b: the drain of tables filled through each system's enqueue API, unvacuumed. */
  drainEnqueued?: DrainResult[] | undefined;
  /** 8: the edge path, neon-http through the delaying Neon proxy. */
  edge?: EdgeResult | undefined;
  latency?: LatencyResult[] | undefined;
  /** 3b: the steady state. */
  steady?: SteadyResult[] | undefined;
  roundTrips?: RoundTripResult[] | undefined;
  scale?: ScaleResult[] | undefined;
  /** 5b: consumer processes on one shared queue. */
  scaleOut?: ScaleOutResult[] | undefined;
  memory?: MemoryResult[] | undefined;
  bundle?: BundleResult | undefined;
  targets?: Target[];
  /** Systems not run, with the reason (a Node their engines field refuses, a failed setup). */
  skipped?: { system: string; reason: string }[];
  /** Measurements that failed, with their error. */
  errors?: Record<string, string>;
  durationMs?: number;
}

export interface Target {
  target: string;
  value: string;
  met: boolean;
}

export const n = (value: number, digits = 0) =>
  Number.isFinite(value)
    ? value.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits })
    : '–';
const kib = (bytes: number) => `${(bytes / 1024).toFixed(1)} KiB`;

export function table(header: string[], rows: string[][]): string {
  const line = (cells: string[]) => `| ${cells.join(' | ')} |`;
  return [line(header), line(header.map(() => '---')), ...rows.map(line)].join('\n');
}

/** The speed targets, checked against this run's figures. */
export function checkTargets(results: Results): Target[] {
  const targets: Target[] = [];
  for (const { against, ratio, lowest, highest } of drainRatios(results.drain ?? [])) {
    const plain = against.startsWith('plain-sql');
    targets.push({
      target: `drain ≥ ${plain ? '0.7' : '2'}× ${against}`,
      value: `${ratio.toFixed(2)}× (rounds ${lowest.toFixed(2)}–${highest.toFixed(2)}×)`,
      met: ratio >= (plain ? 0.7 : 2),
    });
  }
  targets.push(...enqueuedDrainTargets(results.drainEnqueued ?? []));
  targets.push(...steadyTargets(results.steady ?? []));
  const hook = results.latency?.find((result) => result.system === 'gta' && !result.failure);
  if (hook) {
    targets.push({ target: 'commit-hook p50 < 1 ms', value: `${hook.p50.toFixed(2)} ms`, met: hook.p50 < 1 });
    targets.push({ target: 'commit-hook p99 < 5 ms', value: `${hook.p99.toFixed(2)} ms`, met: hook.p99 < 5 });
  }
  for (const trips of results.roundTrips ?? []) {
    const limit = trips.path === 'commit hook' ? 2 : 0.5;
    targets.push({
      target: `${trips.path} path: ${trips.path === 'commit hook' ? '≤ 2' : '< 0.5'} statements per task`,
      value: n(trips.perTask, 3),
      met: trips.path === 'commit hook' ? trips.perTask <= limit : trips.perTask < limit,
    });
  }
  const scale = results.scale?.find((result) => result.system === 'gta');
  if (scale && !('failure' in scale)) {
    targets.push({
      target: `claim latency ${n(scale.large.tableRows)} / ${n(scale.small.tableRows)} rows ≤ 1.3`,
      value: `${scale.claimRatio.toFixed(2)}×`,
      met: scale.claimRatio <= 1.3,
    });
  }
  targets.push(...scaleOutTargets(results.scaleOut ?? [], results.machine.nproc));
  const memory = results.memory?.find((result) => result.system === 'gta');
  if (memory && 'peakRatio' in memory) {
    targets.push({
      target: `peak RSS flat (${n(memory.large.tasks)} vs ${n(memory.small.tasks)} tasks, ≤ 1.2×)`,
      value: `${memory.peakRatio.toFixed(2)}×`,
      met: memory.peakRatio <= 1.2,
    });
  }
  if (results.edge) targets.push(...edgeTargets(results.edge));
  return targets;
}

/** The rate targets against a peer: ≥ 0.7× (stretch 0.9×) the plain-SQL loop, ≥ 1.5× graphile-worker. */
function rateTarget(what: string, ratio: RoundRatio): Target | undefined {
  const spread = ratio.rounds > 1 ? ` (rounds ${ratio.lowest.toFixed(2)}–${ratio.highest.toFixed(2)}×)` : '';
  if (ratio.against.startsWith('plain-sql')) {
    return {
      target: `${what} ≥ 0.7× ${ratio.against} (stretch 0.9×)`,
      value: `${ratio.ratio.toFixed(2)}×${spread}${ratio.ratio >= 0.9 ? ', stretch met' : ''}`,
      met: ratio.ratio >= 0.7,
    };
  }
  if (ratio.against.startsWith('graphile-worker')) {
    return {
      target: `${what} ≥ 1.5× ${ratio.against}`,
      value: `${ratio.ratio.toFixed(2)}×${spread}`,
      met: ratio.ratio >= 1.5,
    };
  }
  return undefined;
}

function enqueuedDrainTargets(results: DrainResult[]): Target[] {
  return (['each', 'batches'] as const).flatMap((fill) =>
    drainRatios(results.filter((result) => result.fill === fill)).flatMap(
      (ratio) => rateTarget(`unvacuumed drain, filled ${FILLS[fill]},`, ratio) ?? [],
    ),
  );
}

function steadyTargets(results: SteadyResult[]): Target[] {
  const targets = ['commit hook', 'tick loop'].flatMap((variant) =>
    steadyRatios(results, variant).flatMap(
      (ratio) => rateTarget(`steady-state rate, gta ${variant},`, ratio) ?? [],
    ),
  );
  const hook = results.find((result) => result.system === 'gta' && result.variant === 'commit hook');
  if (hook?.latency) {
    const at = `at ${n(hook.latency.rate)}/s (half the sustained rate)`;
    targets.push(
      {
        target: `steady state, commit→start p50 < 1 ms ${at}`,
        value: `${hook.latency.p50.toFixed(2)} ms`,
        met: hook.latency.p50 < 1,
      },
      {
        target: `steady state, commit→start p99 < 5 ms ${at}`,
        value: `${hook.latency.p99.toFixed(2)} ms`,
        met: hook.latency.p99 < 5,
      },
    );
  }
  return targets;
}

function scaleOutTargets(results: ScaleOutResult[], cores: number): Target[] {
  const gta = results.find((result) => result.system === 'gta');
  if (!gta || gta.runs.length < 2) return [];
  const upToCores = gta.runs.filter((run) => run.processes <= Math.max(2, cores));
  const growth = upToCores.slice(1).map((run, i) => run.perSec / upToCores[i]!.perSec);
  const errors = gta.runs.reduce((sum, run) => sum + run.errors, 0);
  const short = gta.runs.reduce((sum, run) => sum + run.shortClaimsWhileDue, 0);
  return [
    {
      target: `scale-out: throughput grows with processes up to ${Math.max(2, cores)} (the cores)`,
      value: upToCores
        .slice(1)
        .map((run, i) => `${upToCores[i]!.processes} → ${run.processes}: ${growth[i]!.toFixed(2)}×`)
        .join(', '),
      met: growth.every((ratio) => ratio > 1),
    },
    {
      target: 'scale-out: no claim errors',
      value: `${errors} errors; ${short} short claims while tasks were due`,
      met: errors === 0,
    },
  ];
}

const FILLS = {
  series: 'by generate_series, vacuumed',
  each: '1 per transaction',
  batches: 'in batches',
} as const;

const failed = (failure: string | undefined) => (failure ? ` (failed ${failure})` : '');

export function toMarkdown(results: Results): string {
  const { machine, config } = results;
  const parts: string[] = [
    `Run of ${results.startedAt}: \`${results.command}\`${config.quick ? ' (quick sizes)' : ''}`,
    `Machine: ${machine.nproc} CPUs (${machine.cpu}), memory ${machine.memory}, load average ${machine.loadAverage.join(' / ')} at the start; Node ${machine.node}; Postgres ${machine.postgres}; ${machine.platform}.`,
    `Versions: ${Object.entries(results.versions)
      .map(([name, version]) => `${name} ${version}`)
      .join(', ')}.`,
  ];
  for (const { system, reason } of results.skipped ?? []) parts.push(`**${system} skipped:** ${reason}.`);
  if (results.targets?.length) {
    parts.push(
      '### Targets',
      table(
        ['target', 'this run', 'met'],
        results.targets.map((t) => [t.target, t.value, t.met ? 'yes' : 'no']),
      ),
    );
  }
  if (results.enqueue) {
    parts.push(
      `### 1. Enqueue throughput (tasks/s)`,
      table(
        [
          'system',
          `1 per transaction (${n(config.enqueueEach)} tasks)`,
          `batches of ${config.enqueueBatchSize} (${n(config.enqueueBatched)} tasks)`,
          'rounds (1 per transaction / batches)',
        ],
        results.enqueue.map((r) => [
          `${r.system}${failed(r.failure)}`,
          n(r.eachPerSec),
          n(r.batchedPerSec),
          r.eachRounds.map((each, i) => `${n(each)} / ${n(r.batchedRounds[i]!)}`).join(', '),
        ]),
      ),
      `The median of ${config.enqueueRounds} round${config.enqueueRounds === 1 ? '' : 's'}, every system in each; setup and cleanup (a fresh table or queue) are not timed.`,
    );
  }
  if (results.drain) {
    const gta = results.drain.find((r) => r.system === 'gta');
    parts.push(
      `### 2. Drain throughput: ${n(config.drainTasks)} no-op tasks, one process, concurrency ${config.concurrency}`,
      table(
        [
          'system',
          'configuration',
          'tasks/s (median)',
          'rounds (tasks/s)',
          'statements/task',
          'CPU µs/task: consumer',
          'CPU µs/task: Postgres',
          'gta ÷ this',
        ],
        [...results.drain]
          .sort((a, b) => b.median - a.median)
          .map((r) => [
            r.system,
            `${r.variant}${r.best ? ' (best)' : ''}${r.capped ? ' (time cap)' : ''}${failed(r.failure)}`,
            n(r.median),
            r.rates.map((x) => n(x)).join(', '),
            n(r.statementsPerTask, 3),
            n(median(r.clientCpu)),
            r.databaseCpu.length > 0 ? n(median(r.databaseCpu)) : 'n/a',
            gta ? `${(gta.median / r.median).toFixed(2)}×` : '–',
          ]),
      ),
      'CPU time per task is the median over the rounds: the consumer is this process (the system ' +
        'under test, its driver and the loop around it); Postgres is every `postgres` process on ' +
        'the machine (its backends, the WAL writer, autovacuum), read from `/proc`.',
      drainRatios(results.drain).length === 0
        ? ''
        : `Ratios taken round by round (median, and the rounds' range): ${drainRatios(results.drain)
            .map(
              ({ against, ratio, lowest, highest }) =>
                `gta ÷ ${against} = ${ratio.toFixed(2)}× (${lowest.toFixed(2)}–${highest.toFixed(2)}×)`,
            )
            .join('; ')}.`,
    );
  }
  if (results.drainEnqueued) parts.push(...enqueuedDrainSection(results.drainEnqueued, config));
  if (results.latency) {
    parts.push(
      '### 3. Commit-to-start latency on an idle system (ms)',
      table(
        ['system', 'via', 'samples', 'p50', 'p95', 'p99', 'max'],
        results.latency.map((r) => [
          r.system,
          `${r.variant}${failed(r.failure)}`,
          String(r.samples),
          n(r.p50, 2),
          n(r.p95, 2),
          n(r.p99, 2),
          n(r.max, 2),
        ]),
      ),
    );
  }
  if (results.steady) parts.push(...steadySection(results.steady, config));
  if (results.roundTrips) {
    const rows = results.roundTrips.map((r) => [
      `gta ${r.path}`,
      n(r.tasks),
      n(r.perTask, 3),
      n(r.claimBatch, 1),
      Object.entries(r.statements)
        .map(([kind, count]) => `${kind} ${count}`)
        .join(', '),
    ]);
    for (const r of (results.drain ?? []).filter((d) => d.best && d.system !== 'gta')) {
      rows.push([
        `${r.system} ${r.variant} (drain)`,
        '',
        n(r.statementsPerTask, 3),
        '',
        Object.entries(r.statements)
          .map(([kind, count]) => `${kind} ${count}`)
          .join(', '),
      ]);
    }
    parts.push(
      '### 4. Round trips per task (statements counted at the driver)',
      table(['path', 'tasks', 'statements per task', 'tasks per claim', 'statements by kind'], rows),
      "On the commit-hook path the caller's BEGIN, insert and COMMIT are not counted.",
    );
  }
  if (results.scale) {
    const s = results.scale[0];
    parts.push(
      `### 5. Scale: ${n(config.scaleDue)} due tasks alone vs. among ${n(config.scaleTableRows)} rows`,
      table(
        [
          'system',
          'claim ms (small)',
          'claim ms (large)',
          'claim ratio',
          'tasks/s (small)',
          'tasks/s (large)',
          'slowdown',
        ],
        results.scale.map((r) =>
          'failure' in r
            ? [`${r.system} ${r.variant}`, `failed: ${r.failure}`, '–', '–', '–', '–', '–']
            : [
                `${r.system} ${r.variant}`,
                n(r.small.claimMeanMs, 2),
                n(r.large.claimMeanMs, 2),
                `${r.claimRatio.toFixed(2)}×`,
                n(r.small.perSec),
                n(r.large.perSec),
                `${r.throughputRatio.toFixed(2)}×`,
              ],
        ),
      ),
      s ? `Claim latency is the mean duration of the statements that claim, as the driver sees them.` : '',
    );
  }
  if (results.scaleOut) parts.push(...scaleOutSection(results.scaleOut, config));
  if (results.memory) {
    parts.push(
      '### 6. Memory while draining (peak RSS of a process running one system)',
      table(
        [
          'system',
          `peak MiB, ${n(config.memorySmall)} tasks`,
          `peak MiB, ${n(config.memoryLarge)} tasks`,
          'ratio',
          'RSS at start (small / large)',
          'heap kept after (small / large)',
        ],
        results.memory.map((r) =>
          'failure' in r
            ? [r.system, 'failed', r.failure, '–', '–', '–']
            : [
                r.system,
                `${n(r.small.peakMiB, 1)}${r.small.capped ? ` (time cap: ${n(r.small.tasks)} tasks)` : ''}`,
                `${n(r.large.peakMiB, 1)}${r.large.capped ? ` (time cap: ${n(r.large.tasks)} tasks)` : ''}`,
                `${r.peakRatio.toFixed(2)}×`,
                `${n(r.small.baselineMiB, 1)} / ${n(r.large.baselineMiB, 1)}`,
                `${n(r.small.retainedHeapMiB, 1)} / ${n(r.large.retainedHeapMiB, 1)}`,
              ],
        ),
      ),
    );
  }
  if (results.bundle) {
    parts.push(
      '### 7. Bundle size (esbuild, minified; gzip level 9)',
      table(
        ['bundle', 'minified', 'gzipped', 'parts (minified)'],
        results.bundle.sizes.map((b) => [
          b.name,
          kib(b.minBytes),
          kib(b.gzipBytes),
          b.byPackage
            ? Object.entries(b.byPackage)
                .map(([name, bytes]) => `${name} ${kib(bytes)}`)
                .join(', ')
            : (b.note ?? ''),
        ]),
      ),
      results.bundle.workerError ? `Worker not measured: ${results.bundle.workerError}.` : '',
    );
  }
  for (const [name, message] of Object.entries(results.errors ?? {}))
    parts.push(`**${name} failed:** ${message}`);
  if (results.durationMs) parts.push(`The run took ${(results.durationMs / 60_000).toFixed(1)} minutes.`);
  if (results.edge) parts.push(edgeMarkdown(results.edge));
  return `${parts.filter(Boolean).join('\n\n')}\n`;
}

const ratioText = (ratio: Omit<RoundRatio, 'against'> | undefined) =>
  ratio
    ? `${ratio.ratio.toFixed(2)}×${ratio.rounds > 1 ? ` (${ratio.lowest.toFixed(2)}–${ratio.highest.toFixed(2)}×)` : ''}`
    : '–';

function enqueuedDrainSection(results: DrainResult[], config: BenchConfig): string[] {
  const rows = (['each', 'batches'] as const).flatMap((fill) => {
    const ofFill = results.filter((r) => r.fill === fill);
    const gta = ofFill.find((r) => r.system === 'gta' && r.best);
    return [...ofFill]
      .sort((a, b) => (b.median || 0) - (a.median || 0))
      .map((r) => [
        FILLS[fill],
        `${r.system} ${r.variant}${r.capped ? ' (time cap)' : ''}${failed(r.failure)}`,
        n(r.median),
        r.rates.map((x, i) => `${n(x)}${r.autovacuum?.[i]?.length ? '†' : ''}`).join(', '),
        n(median(r.fillRates)),
        `${n(median(r.firstTaskMs), 1)} / ${n(median(r.tailMs), 1)}`,
        n(r.statementsPerTask, 3),
        n(median(r.clientCpu)),
        r.databaseCpu.length > 0 ? n(median(r.databaseCpu)) : 'n/a',
        gta && r !== gta ? ratioText(roundRatio(gta, r)) : '–',
      ]);
  });
  const vacuumed = results.flatMap((r) =>
    (r.autovacuum ?? []).flatMap((passes, i) =>
      passes.length > 0 ? [`${r.system} (${r.fill}, round ${i + 1}): ${passes.join(', ')}`] : [],
    ),
  );
  return [
    `### 2b. Drain of a table filled through each system's enqueue API, not vacuumed: ${n(config.drainTasks)} tasks, one process, concurrency ${config.concurrency}`,
    table(
      [
        'filled',
        'system',
        'tasks/s (median)',
        'rounds (tasks/s; † autovacuum ran meanwhile)',
        'fill, tasks/s',
        'ms to the first handler / after the last',
        'statements/task',
        'CPU µs/task: consumer',
        'CPU µs/task: Postgres',
        'gta ÷ this (median of rounds, range)',
      ],
      rows,
    ),
    `Filled one task per transaction from four connections at once, or in batches of 100 through each system's batch API; autovacuum at its defaults, no VACUUM or ANALYZE before the drain. The time from starting the consumer to its first handler (its start-up and first fetch) and from the last handler's start to the drain's end (the last completions written, and seen) are medians of the rounds. ${config.enqueuedDrainRounds} round${config.enqueuedDrainRounds === 1 ? '' : 's'}, the systems' order reversed every other round; the ratios are taken round by round.`,
    vacuumed.length > 0
      ? `Autovacuum passes seen on the database during a drain: ${vacuumed.join('; ')}.`
      : 'No autovacuum pass was seen on the database during any drain.',
  ];
}

function steadySection(results: SteadyResult[], config: BenchConfig): string[] {
  const gta = results.find((r) => r.system === 'gta' && r.best && r.rounds.length > 0);
  const ladder = (r: SteadyResult) =>
    (r.rounds[0]?.steps ?? [])
      .map((step) => `${n(step.rate)}${step.sustained ? '' : ` ✗ ${step.limitedBy ?? ''}`.trimEnd()}`)
      .join(', ');
  return [
    `### 3b. Steady state: producers enqueue at a fixed rate (${config.steadyProducers} connections, 1 task per transaction), the rate doubles until the backlog grows`,
    table(
      [
        'system',
        'configuration',
        'sustained tasks/s (median)',
        'rounds',
        'steps of the first round (✗: not sustained, and by what)',
        'latency at',
        'p50 ms',
        'p95 ms',
        'p99 ms',
        'max ms',
        'CPU µs/task: this process',
        'CPU µs/task: Postgres',
        'gta ÷ this',
      ],
      results.map((r) => {
        const ratio = gta && r !== gta ? roundRatioOfSteady(gta, r) : undefined;
        return [
          r.system,
          `${r.variant}${r.best ? ' (best)' : ''}${failed(r.failure)}`,
          n(r.sustained),
          r.rounds.map((round) => n(round.sustained)).join(', '),
          ladder(r),
          r.latency
            ? `${n(r.latency.rate)}/s${r.latency.missing ? ` (${r.latency.missing} never started)` : ''}`
            : '–',
          n(r.latency?.p50 ?? Number.NaN, 2),
          n(r.latency?.p95 ?? Number.NaN, 2),
          n(r.latency?.p99 ?? Number.NaN, 2),
          n(r.latency?.max ?? Number.NaN, 2),
          n(r.latency?.clientCpu ?? Number.NaN),
          r.latency?.databaseCpu == null ? 'n/a' : n(r.latency.databaseCpu),
          ratioText(ratio),
        ];
      }),
    ),
    `Each rate is offered for ${n(config.steadyStepMs / 1000, 1)} s, each task due at its time in the schedule; a step is sustained when at least 95 % of its tasks committed within it and, at its end, the tasks committed but not started were at most 5 % of them plus one poll interval's worth (a polling consumer) plus twice the concurrency. Between steps the backlog clears. After the first step not sustained, ${config.steadyRefine} more halve the interval. The latency is commit→start (the enqueuing COMMIT's reply to the handler's first line) of every task of a ${n(config.steadyLatencyMs / 1000, 1)} s step at half the sustained rate; CPU per task counts the producers too. ${config.steadyRounds} round${config.steadyRounds === 1 ? '' : 's'} of the best configurations, in reverse order every other round.`,
  ];
}

function roundRatioOfSteady(a: SteadyResult, b: SteadyResult): RoundRatio | undefined {
  const ratio = roundRatio(
    { rates: a.rounds.map((round) => round.sustained) },
    { rates: b.rounds.map((round) => round.sustained) },
  );
  return ratio && { against: `${b.system} ${b.variant}`, ...ratio };
}

function scaleOutSection(results: ScaleOutResult[], config: BenchConfig): string[] {
  const rows = results.flatMap((r) => {
    if (r.runs.length === 0)
      return [
        [
          `${r.system} ${r.variant}`,
          '–',
          `failed: ${r.failure ?? 'no run'}`,
          '–',
          '–',
          '–',
          '–',
          '–',
          '–',
          '–',
        ],
      ];
    const single = r.runs[0]!.perSec;
    const runs = r.runs.map((run) => [
      `${r.system} ${r.variant}`,
      String(run.processes),
      `${n(run.perSec)}${run.capped ? ' (time cap)' : ''}`,
      `${(run.perSec / single).toFixed(2)}×`,
      `${n(Math.min(...run.perProcess))}–${n(Math.max(...run.perProcess))}`,
      n(run.claims),
      `${n(run.shortClaims)} (${n(run.shortClaimsWhileDue)})`,
      `${n(run.lockWaitSamples)} / ${n(run.samples)}`,
      `${n(run.errors)}${run.errorSamples.length ? `: ${run.errorSamples.join('; ').slice(0, 160)}` : ''}`,
      `${n(run.clientCpu)} / ${run.databaseCpu === null ? 'n/a' : n(run.databaseCpu)}`,
    ]);
    if (r.failure)
      runs.push([`${r.system} ${r.variant}`, '–', `failed: ${r.failure}`, '–', '–', '–', '–', '–', '–', '–']);
    return runs;
  });
  return [
    `### 5b. Scale-out: consumer processes draining one shared queue of ${n(config.scaleOutTasks)} tasks (concurrency ${config.concurrency} each)`,
    table(
      [
        'system',
        'processes',
        'tasks/s',
        '÷ 1 process',
        'tasks per process',
        'claims',
        'short claims (while due)',
        'lock-wait samples',
        'errors',
        'CPU µs/task: consumers / Postgres',
      ],
      rows,
    ),
    'The processes start, set up and warm up before the clock, and set their consumer up on the queue; the clock runs from telling them to start until no task is left undone. A short claim returned fewer tasks than it asked for; "while due", the same process found more afterwards. Lock waits: samples of `pg_locks` (every 20 ms) that found a session of the database waiting.',
  ];
}
