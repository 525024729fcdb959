/**
 * pg-boss: jobs sent inside the caller's transaction (`send` with its `db` option) or `insert`ed in
 * batches; one worker fetching batches of 50 and running 10 at a time. Two versions run side by
 * side, each in a schema of its own: 10 (the newest on Node 20), which has no LISTEN/NOTIFY, polls
 * at its minimum interval or is told to fetch again after a full batch; and 12 (Node 22 and
 * later), with its LISTEN/NOTIFY listener and its own burst mode after a full batch.
 * @module
 */
import { performance } from 'node:perf_hooks';
import pg from 'pg';
import { type Classifier, instrumentedPool, StatementLog } from '../statements.js';
import {
  type Consumer,
  type DrainInput,
  type DrainRun,
  type DrainVariant,
  deferred,
  FILL_BATCH,
  FILL_PRODUCERS,
  gap,
  HandlerClock,
  type LatencyVariant,
  messageOf,
  pollUntil,
  produce,
  produceBatches,
  runLimited,
  type SteadyInput,
  type SteadySession,
  type SteadyVariant,
  type System,
  sleep,
} from './types.js';

/** pg-boss's database adapter: `executeSql`, and (12) a session-pinned LISTEN. */
interface BossDb {
  executeSql(text: string, values?: unknown[]): Promise<{ rows: unknown[] }>;
  listen?(
    channel: string,
    onNotification: (payload: string) => void,
    onReconnect: () => void,
  ): Promise<{ close(): Promise<void> }>;
}

interface Job {
  id: string;
  data: unknown;
}

/** What the bench calls of a pg-boss instance; 10 and 12 agree on it but for `insert`. */
export interface Boss {
  start(): Promise<unknown>;
  stop(options?: object): Promise<void>;
  on(event: 'error', listener: (error: unknown) => void): unknown;
  send(name: string, data: object, options?: { db: BossDb }): Promise<unknown>;
  work(name: string, options: object, handler: (jobs: Job[]) => Promise<void>): Promise<string>;
  offWork(name: string, options?: object): Promise<void>;
  notifyWorker(workerId: string): void;
  createQueue(name: string, options?: object): Promise<void>;
  deleteQueue(name: string): Promise<void>;
}

/** How one pg-boss major version is built and differs. */
export interface PgBossFlavor {
  major: 10 | 12;
  /** Its Postgres schema: each version keeps its own. */
  schema: string;
  create(options: object): Boss;
  insert(boss: Boss, queue: string, data: object[]): Promise<unknown>;
}

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
/** pg-boss's minimum polling interval. */
const POLLING_SECONDS = 0.5;
/** How long stopping a worker may take before cleanup goes ahead regardless. */
const STOP_WAIT_MS = 10_000;

let queues = 0;

export class PgBossSystem implements System {
  readonly log = new StatementLog(classify);
  readonly drainVariants: DrainVariant[];
  readonly latencyVariants: LatencyVariant[];
  readonly steadyVariants: SteadyVariant[];
  readonly pool: pg.Pool;
  readonly boss: Boss;
  /** pg-boss's statements in flight: 10 writes completions without awaiting them. */
  #inflight = 0;
  /** Handlers (batches) running. */
  #running = 0;
  readonly #errors: string[] = [];

  constructor(
    readonly name: 'pg-boss' | 'pg-boss@12',
    readonly url: string,
    readonly version: string,
    latencySamples: number,
    pollingSamples: number,
    readonly flavor: PgBossFlavor,
  ) {
    this.pool = instrumentedPool({ connectionString: url, max: 12 }, this.log);
    const db: BossDb = {
      executeSql: async (text, values) => {
        this.#inflight++;
        try {
          return await this.pool.query(text, values);
        } finally {
          this.#inflight--;
        }
      },
      listen: (channel, onNotification, onReconnect) => listen(url, channel, onNotification, onReconnect),
    };
    this.boss = flavor.create({
      db,
      schema: flavor.schema,
      supervise: false,
      schedule: false,
      migrate: true,
      ...(flavor.major === 12 ? { useListenNotify: true } : {}),
    });
    this.boss.on('error', (error) => void this.#errors.push(messageOf(error)));
    const polling = `one work() with batchSize ${BATCH_SIZE}, run 10 at a time, pollingIntervalSeconds ${POLLING_SECONDS} (its minimum)`;
    if (flavor.major === 10) {
      this.drainVariants = [
        { name: 'polling', settings: polling, best: false },
        {
          name: 'burst',
          settings:
            'as polling, and notifyWorker(id) after a full batch, so the worker fetches again at once',
          best: true,
        },
      ];
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
      this.steadyVariants = [
        {
          name: 'burst',
          settings:
            'producers send(name, data, { db }) in their transactions; the burst worker (as in the drain) polls every 0.5 s (10.x has no LISTEN/NOTIFY)',
          best: true,
          pollMs: POLLING_SECONDS * 1000,
        },
      ];
    } else {
      this.drainVariants = [
        { name: 'polling', settings: polling, best: false },
        {
          name: 'burst',
          settings: 'as polling, with burstWhenBatchFull: true (it fetches again at once after a full batch)',
          best: true,
        },
      ];
      this.latencyVariants = [
        {
          name: 'polling',
          settings: `one worker, pollingIntervalSeconds ${POLLING_SECONDS}, a queue without notify`,
          samples: pollingSamples,
          gapMs: POLLING_SECONDS * 1000,
        },
        {
          name: 'LISTEN/NOTIFY',
          settings:
            'useListenNotify: true and a queue created with notify: true; its NOTIFY wakes the worker',
          samples: latencySamples,
        },
      ];
      this.steadyVariants = [
        {
          name: 'LISTEN/NOTIFY',
          settings:
            'producers send(name, data, { db }) in their transactions; the burst worker on a notify queue (useListenNotify), pollingIntervalSeconds 0.5 as its backstop',
          best: true,
          pollMs: 0,
        },
      ];
    }
  }

  async setup(): Promise<void> {
    await this.boss.start();
  }

  get #table(): string {
    return `${this.flavor.schema}.job`;
  }

  async #queue(notify = false): Promise<string> {
    const name = `bench_${process.pid}_${++queues}`;
    await this.boss.createQueue(name, notify && this.flavor.major === 12 ? { notify: true } : {});
    return name;
  }

  async #dropQueue(name: string): Promise<void> {
    await this.pool.query(`delete from ${this.#table} where name = $1`, [name]);
    await this.boss.deleteQueue(name);
  }

  /**
   * One worker on `queue` fetching batches of 50, its jobs run 10 at a time. `burst` fetches again
   * at once after a full batch: 12 by itself, 10 when told (notifyWorker).
   */
  async #work(queue: string, burst: boolean, concurrency: number, run: (job: Job) => void): Promise<string> {
    let workerId: string | undefined;
    workerId = await this.boss.work(
      queue,
      {
        batchSize: BATCH_SIZE,
        pollingIntervalSeconds: POLLING_SECONDS,
        ...(burst && this.flavor.major === 12 ? { burstWhenBatchFull: true } : {}),
      },
      async (jobs) => {
        this.#running++;
        try {
          await runLimited(jobs, concurrency, async (job) => run(job));
        } finally {
          this.#running--;
        }
        if (burst && this.flavor.major === 10 && jobs.length === BATCH_SIZE && workerId)
          this.boss.notifyWorker(workerId);
      },
    );
    return workerId;
  }

  /**
   * Stops the worker on `queue` and waits until it has: no batch running and none of pg-boss's
   * statements in flight, twice in a row. pg-boss 10's offWork returns at once and its worker
   * writes each batch's completion without awaiting it, so without this wait a cleanup deleting
   * the queue's rows races those completions (and deadlocks with them).
   */
  async #stopWorker(queue: string): Promise<void> {
    await this.boss.offWork(queue, ...(this.flavor.major === 12 ? [{ wait: true }] : []));
    const deadline = performance.now() + STOP_WAIT_MS;
    let quiet = 0;
    while (quiet < 2 && performance.now() < deadline) {
      await sleep(20);
      quiet = this.#running === 0 && this.#inflight === 0 ? quiet + 1 : 0;
    }
  }

  /** One task in a transaction of its own on `client`, `send` given the transaction's client. */
  async #sendWith(client: pg.ClientBase, queue: string, i: number): Promise<void> {
    const db = { executeSql: (text: string, values?: unknown[]) => client.query(text, values) };
    await client.query('begin');
    await this.boss.send(queue, { i }, { db });
    await client.query('commit');
  }

  /** The same on a connection taken from `pool` for it. */
  async #sendOn(pool: pg.Pool, queue: string, i: number): Promise<void> {
    const client = await pool.connect();
    try {
      await this.#sendWith(client, queue, i);
    } catch (error) {
      await client.query('rollback').catch(() => {});
      throw error;
    } finally {
      client.release();
    }
  }

  async enqueueEach(count: number): Promise<number> {
    const queue = await this.#queue();
    const client = await this.pool.connect();
    try {
      const started = performance.now();
      for (let i = 0; i < count; i++) await this.#sendWith(client, queue, i);
      return performance.now() - started;
    } finally {
      client.release();
      await this.#dropQueue(queue);
    }
  }

  async enqueueBatches(count: number, size: number): Promise<number> {
    const queue = await this.#queue();
    try {
      const started = performance.now();
      await produceBatches(count, size, (args) => this.flavor.insert(this.boss, queue, args));
      return performance.now() - started;
    } finally {
      await this.#dropQueue(queue);
    }
  }

  async #fillSeries(queue: string, tasks: number, backlog = 0): Promise<void> {
    await this.pool.query(
      `insert into ${this.#table} (name, data) select $1, jsonb_build_object('i', i) from generate_series(1, $2::int) as i`,
      [queue, tasks],
    );
    if (backlog) {
      await this.pool.query(
        `insert into ${this.#table} (name, data, state, start_after, started_on, completed_on)
         select $1, '{}', case when i <= $3 then 'completed' else 'created' end::${this.flavor.schema}.job_state,
                case when i <= $3 then now() - interval '1 hour' else now() + interval '1 day' end,
                case when i <= $3 then now() - interval '1 hour' end,
                case when i <= $3 then now() - interval '1 hour' end
         from generate_series(1, $2::int) as i`,
        [queue, backlog, Math.floor(backlog / 2)],
      );
    }
    await this.pool.query(`analyze ${this.#table}`);
  }

  async #outstanding(queue: string): Promise<number> {
    const { rows } = await this.pool.query<{ count: string }>(
      `select count(*) from ${this.#table} where name = $1 and state < 'completed' and start_after <= now()`,
      [queue],
    );
    return Number(rows[0]!.count);
  }

  async drain(variant: DrainVariant, input: DrainInput): Promise<DrainRun> {
    const queue = await this.#queue();
    let working = false;
    try {
      const filling = performance.now();
      const fill = input.fill ?? 'series';
      if (fill === 'series') await this.#fillSeries(queue, input.tasks, input.backlog);
      else if (fill === 'each')
        await produce(input.tasks, FILL_PRODUCERS, (i) => this.#sendOn(this.pool, queue, i));
      else
        await produceBatches(input.tasks, FILL_BATCH, (args) => this.flavor.insert(this.boss, queue, args));
      const fillMs = performance.now() - filling;
      this.log.reset();
      let done = 0;
      const clock = new HandlerClock();
      input.onStart?.();
      const started = performance.now();
      const deadline = started + input.timeLimitMs;
      working = true;
      await this.#work(queue, variant.name === 'burst', input.concurrency, () => {
        clock.tick();
        done++;
      });
      await pollUntil(async () => done >= input.tasks, deadline, 20);
      const recorded = await pollUntil(async () => (await this.#outstanding(queue)) === 0, deadline);
      const ms = performance.now() - started;
      const statements = this.log.counts();
      const claimMs = [...(this.log.kinds.get('claim')?.samples ?? [])];
      return {
        tasks: Math.min(done, input.tasks),
        ms,
        capped: !recorded,
        statements,
        claimMs,
        fillMs,
        ...clock.since(started),
      };
    } finally {
      if (working) await this.#stopWorker(queue);
      await this.#dropQueue(queue);
    }
  }

  async latency(variant: LatencyVariant): Promise<number[]> {
    const notified = variant.name === 'LISTEN/NOTIFY';
    const queue = await this.#queue(notified);
    let started = deferred<number>();
    const workerId = await this.boss.work(
      queue,
      { pollingIntervalSeconds: POLLING_SECONDS, ...(notified ? { notifyPollingIntervalSeconds: 30 } : {}) },
      async () => {
        started.resolve(performance.now());
      },
    );
    const client = await this.pool.connect();
    const db = { executeSql: (text: string, values?: unknown[]) => client.query(text, values) };
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
      await this.#stopWorker(queue);
      await this.#dropQueue(queue);
    }
    return latencies;
  }

  async steady(_variant: SteadyVariant, input: SteadyInput): Promise<SteadySession> {
    const queue = await this.#queue(true);
    const producers = instrumentedPool({ connectionString: this.url, max: input.producers }, this.log);
    await this.#work(queue, true, input.concurrency, (job) => input.onStart((job.data as { i: number }).i));
    return {
      enqueue: (i) => this.#sendOn(producers, queue, i),
      close: async () => {
        try {
          await this.#stopWorker(queue);
        } finally {
          await this.#dropQueue(queue);
          await producers.end();
        }
      },
    };
  }

  async fillShared(tasks: number): Promise<string> {
    const queue = await this.#queue();
    await this.#fillSeries(queue, tasks);
    return queue;
  }

  async remaining(queue: string): Promise<number> {
    return this.#outstanding(queue);
  }

  async consume(queue: string, concurrency: number): Promise<Consumer> {
    let done = 0;
    const errors = this.#errors;
    const from = errors.length;
    return {
      start: async () => {
        await this.#work(queue, true, concurrency, () => {
          done++;
        });
      },
      get done() {
        return done;
      },
      get errors() {
        return errors.slice(from);
      },
      stop: () => this.#stopWorker(queue),
    };
  }

  async dropShared(queue: string): Promise<void> {
    await this.#dropQueue(queue);
  }

  async close(): Promise<void> {
    await this.boss.stop({
      graceful: false,
      close: false,
      ...(this.flavor.major === 10 ? { wait: true } : {}),
    });
    await this.pool.end();
  }
}

/** A session-pinned LISTEN connection for pg-boss 12's listener (no reconnects: a run is short). */
async function listen(
  url: string,
  channel: string,
  onNotification: (payload: string) => void,
  onReconnect: () => void,
): Promise<{ close(): Promise<void> }> {
  const client = new pg.Client({ connectionString: url });
  client.on('error', () => {});
  client.on('notification', (message) => {
    if (message.payload !== undefined) onNotification(message.payload);
  });
  await client.connect();
  await client.query(`listen "${channel}"`);
  onReconnect();
  return {
    close: async () => {
      client.removeAllListeners('notification');
      await client.end().catch(() => {});
    },
  };
}
