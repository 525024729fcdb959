/** The run's figures as Markdown tables, printed and saved beside the JSON. @module */
import type { BenchConfig } from '../config.js';
import type { BundleResult } from '../measures/bundle.js';
import { type DrainResult, drainRatios } from '../measures/drain.js';
import type { EnqueueResult } from '../measures/enqueue.js';
import type { LatencyResult } from '../measures/latency.js';
import type { MemoryResult } from '../measures/memory.js';
import type { RoundTripResult } from '../measures/round-trips.js';
import type { ScaleResult } from '../measures/scale.js';
import { median } from '../stats.js';
import type { Machine } from './machine.js';

export interface Results {
  startedAt: string;
  command: string;
  config: BenchConfig;
  machine: Machine;
  versions: Record<string, string>;
  enqueue?: EnqueueResult[] | undefined;
  drain?: DrainResult[] | undefined;
  latency?: LatencyResult[] | undefined;
  roundTrips?: RoundTripResult[] | undefined;
  scale?: ScaleResult[] | undefined;
  memory?: MemoryResult[] | undefined;
  bundle?: BundleResult | undefined;
  targets?: Target[];
  /** Measurements that failed, with their error. */
  errors?: Record<string, string>;
  durationMs?: number;
}

export interface Target {
  target: string;
  value: string;
  met: boolean;
}

const n = (value: number, digits = 0) =>
  Number.isFinite(value)
    ? value.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits })
    : '–';
const kib = (bytes: number) => `${(bytes / 1024).toFixed(1)} KiB`;

function table(header: string[], rows: string[][]): string {
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
  const hook = results.latency?.find((result) => result.system === 'gta');
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
  if (scale) {
    targets.push({
      target: `claim latency ${n(scale.large.tableRows)} / ${n(scale.small.tableRows)} rows ≤ 1.3`,
      value: `${scale.claimRatio.toFixed(2)}×`,
      met: scale.claimRatio <= 1.3,
    });
  }
  const memory = results.memory?.find((result) => result.system === 'gta');
  if (memory && 'peakRatio' in memory) {
    targets.push({
      target: `peak RSS flat (${n(memory.large.tasks)} vs ${n(memory.small.tasks)} tasks, ≤ 1.2×)`,
      value: `${memory.peakRatio.toFixed(2)}×`,
      met: memory.peakRatio <= 1.2,
    });
  }
  return targets;
}

export function toMarkdown(results: Results): string {
  const { machine, config } = results;
  const parts: string[] = [
    `Run of ${results.startedAt}: \`${results.command}\`${config.quick ? ' (quick sizes)' : ''}`,
    `Machine: ${machine.nproc} CPUs (${machine.cpu}), memory ${machine.memory}, load average ${machine.loadAverage.join(' / ')} at the start; Node ${machine.node}; Postgres ${machine.postgres}; ${machine.platform}.`,
    `Versions: ${Object.entries(results.versions)
      .map(([name, version]) => `${name} ${version}`)
      .join(', ')}.`,
  ];
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
          r.system,
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
            `${r.variant}${r.best ? ' (best)' : ''}${r.capped ? ' (time cap)' : ''}`,
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
      `Ratios taken round by round (median, and the rounds' range): ${drainRatios(results.drain)
        .map(
          ({ against, ratio, lowest, highest }) =>
            `gta ÷ ${against} = ${ratio.toFixed(2)}× (${lowest.toFixed(2)}–${highest.toFixed(2)}×)`,
        )
        .join('; ')}.`,
    );
  }
  if (results.latency) {
    parts.push(
      '### 3. Commit-to-start latency on an idle system (ms)',
      table(
        ['system', 'via', 'samples', 'p50', 'p95', 'p99', 'max'],
        results.latency.map((r) => [
          r.system,
          r.variant,
          String(r.samples),
          n(r.p50, 2),
          n(r.p95, 2),
          n(r.p99, 2),
          n(r.max, 2),
        ]),
      ),
    );
  }
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
        results.scale.map((r) => [
          `${r.system} ${r.variant}`,
          n(r.small.claimMeanMs, 2),
          n(r.large.claimMeanMs, 2),
          `${r.claimRatio.toFixed(2)}×`,
          n(r.small.perSec),
          n(r.large.perSec),
          `${r.throughputRatio.toFixed(2)}×`,
        ]),
      ),
      s ? `Claim latency is the mean duration of the statements that claim, as the driver sees them.` : '',
    );
  }
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
  return `${parts.filter(Boolean).join('\n\n')}\n`;
}
