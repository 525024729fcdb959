/**
 * pg-boss: jobs sent inside the caller's transaction (`send` with its `db` option) or `insert`ed in
 * batches; one worker fetching batches of 50 and running 10 at a time, polling at its minimum
 * interval or fetching again at once after a full batch. pg-boss 10 has no LISTEN/NOTIFY.
 * @module
 */
import { performance } from 'node:perf_hooks';
import type pg from 'pg';
import PgBoss from 'pg-boss';
import { type Classifier, instrumentedPool, StatementLog } from '../statements.js';
import {
  type DrainInput,
  type DrainRun,
  type DrainVariant,
  deferred,
  gap,
  type LatencyVariant,
  pollUntil,
  runLimited,
  type System,
} from './types.js';

const classify: Classifier = (text) => {
  const sql = text
    .trimStart()
    .toLowerCase()
    .replace(/^(begin|commit|rollback);/, '$1');
  if (/^(begin|commit|rollback)\b/.test(sql)) return sql.split(/\s/)[0]!;
  if (sql.includes('skip locked') && sql.includes("state = 'active'")) return 'claim';
  if (sql.includes("state = 'completed'") && sql.includes('with results as')) return 'complete';
  if (sql.includes('insert into') && sql.includes('.job')) return 'enqueue';
  return 'other';
};

const BATCH_SIZE = 50;
/** pg-boss 10's minimum polling interval. */
const POLLING_SECONDS = 0.5;

let queues = 0;

export class PgBossSystem implements System {
  readonly name = 'pg-boss' as const;
  readonly log = new StatementLog(classify);
  readonly drainVariants: DrainVariant[] = [
    {
      name: 'polling',
      settings: `one work() with batchSize ${BATCH_SIZE}, run 10 at a time, pollingIntervalSeconds ${POLLING_SECONDS} (its minimum)`,
      best: false,
    },
    {
      name: 'burst',
      settings: `as polling, and notifyWorker(id) after a full batch, so the worker fetches again at once`,
      best: true,
    },
  ];
  readonly latencyVariants: LatencyVariant[];
  readonly pool: pg.Pool;
  readonly boss: PgBoss;

  constructor(
    url: string,
    readonly version: string,
    latencySamples: number,
    pollingSamples: number,
  ) {
    this.pool = instrumentedPool({ connectionString: url, max: 12 }, this.log);
    this.boss = new PgBoss({
      db: { executeSql: (text, values) => this.pool.query(text, values) },
      supervise: false,
      schedule: false,
      migrate: true,
    });
    this.boss.on('error', () => {});
    this.latencyVariants = [
      {
        name: 'polling',
        settings: `one worker, pollingIntervalSeconds ${POLLING_SECONDS}`,
        samples: pollingSamples,
        gapMs: POLLING_SECONDS * 1000,
      },
      {
        name: 'notifyWorker',
        settings: 'the enqueuer calls notifyWorker(id) right after its COMMIT (in process)',
        samples: latencySamples,
      },
    ];
  }

  async setup(): Promise<void> {
    await this.boss.start();
  }

  async #queue(): Promise<string> {
    const name = `bench_${process.pid}_${++queues}`;
    await this.boss.createQueue(name);
    return name;
  }

  async #dropQueue(name: string): Promise<void> {
    await this.pool.query('delete from pgboss.job where name = $1', [name]);
    await this.boss.deleteQueue(name);
  }

  async enqueueEach(count: number): Promise<number> {
    const queue = await this.#queue();
    const client = await this.pool.connect();
    const db = { executeSql: (text: string, values: unknown[]) => client.query(text, values) };
    const started = performance.now();
    try {
      for (let i = 0; i < count; i++) {
        await client.query('begin');
        await this.boss.send(queue, { i }, { db });
        await client.query('commit');
      }
    } finally {
      client.release();
    }
    const ms = performance.now() - started;
    await this.#dropQueue(queue);
    return ms;
  }

  async enqueueBatches(count: number, size: number): Promise<number> {
    const queue = await this.#queue();
    const started = performance.now();
    for (let start = 0; start < count; start += size) {
      await this.boss.insert(
        Array.from({ length: Math.min(size, count - start) }, (_, i) => ({
          name: queue,
          data: { i: start + i },
        })),
      );
    }
    const ms = performance.now() - started;
    await this.#dropQueue(queue);
    return ms;
  }

  async drain(variant: DrainVariant, input: DrainInput): Promise<DrainRun> {
    const queue = await this.#queue();
    await this.pool.query(
      `insert into pgboss.job (name, data) select $1, jsonb_build_object('i', i) from generate_series(1, $2::int) as i`,
      [queue, input.tasks],
    );
    if (input.backlog) {
      await this.pool.query(
        `insert into pgboss.job (name, data, state, start_after, started_on, completed_on)
         select $1, '{}', case when i <= $3 then 'completed' else 'created' end::pgboss.job_state,
                case when i <= $3 then now() - interval '1 hour' else now() + interval '1 day' end,
                case when i <= $3 then now() - interval '1 hour' end,
                case when i <= $3 then now() - interval '1 hour' end
         from generate_series(1, $2::int) as i`,
        [queue, input.backlog, Math.floor(input.backlog / 2)],
      );
    }
    await this.pool.query('analyze pgboss.job');
    this.log.reset();
    let done = 0;
    let workerId: string | undefined;
    input.onStart?.();
    const started = performance.now();
    const deadline = started + input.timeLimitMs;
    workerId = await this.boss.work(
      queue,
      { batchSize: BATCH_SIZE, pollingIntervalSeconds: POLLING_SECONDS },
      async (jobs) => {
        await runLimited(jobs, input.concurrency, async () => {
          done++;
        });
        if (variant.name === 'burst' && jobs.length === BATCH_SIZE && workerId)
          this.boss.notifyWorker(workerId);
      },
    );
    const outstanding = async () => {
      const { rows } = await this.pool.query<{ count: string }>(
        `select count(*) from pgboss.job where name = $1 and state < 'completed' and start_after <= now()`,
        [queue],
      );
      return Number(rows[0]!.count);
    };
    await pollUntil(async () => done >= input.tasks, deadline, 20);
    const recorded = await pollUntil(async () => (await outstanding()) === 0, deadline);
    const ms = performance.now() - started;
    const statements = this.log.counts();
    const claimMs = [...(this.log.kinds.get('claim')?.samples ?? [])];
    await this.boss.offWork(queue);
    await this.#dropQueue(queue);
    return { tasks: Math.min(done, input.tasks), ms, capped: !recorded, statements, claimMs };
  }

  async latency(variant: LatencyVariant): Promise<number[]> {
    const queue = await this.#queue();
    let started = deferred<number>();
    const workerId = await this.boss.work(queue, { pollingIntervalSeconds: POLLING_SECONDS }, async () => {
      started.resolve(performance.now());
    });
    const client = await this.pool.connect();
    const db = { executeSql: (text: string, values: unknown[]) => client.query(text, values) };
    const latencies: number[] = [];
    try {
      for (let i = 0; i < variant.samples; i++) {
        await gap(variant);
        started = deferred<number>();
        await client.query('begin');
        await this.boss.send(queue, { i }, { db });
        await client.query('commit');
        const committed = this.log.lastEnd.get('commit')!;
        if (variant.name === 'notifyWorker') this.boss.notifyWorker(workerId);
        latencies.push((await started.promise) - committed);
      }
    } finally {
      client.release();
      await this.boss.offWork(queue);
    }
    return latencies;
  }

  async close(): Promise<void> {
    await this.boss.stop({ graceful: false, wait: true, close: false });
    await this.pool.end();
  }
}
