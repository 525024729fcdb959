/**
 * The reference: a plain-SQL job table and the loops any team would write by hand, claiming with
 * one `FOR UPDATE SKIP LOCKED` statement. It shows what one Postgres can do on this machine, so
 * the other systems' figures read as a share of it.
 * @module
 */
import { performance } from 'node:perf_hooks';
import type pg from 'pg';
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
  produce,
  produceBatches,
  runLimited,
  type SteadyInput,
  type SteadySession,
  type SteadyVariant,
  type System,
  sleep,
} from './types.js';

const classify: Classifier = (text) => {
  const sql = text.trimStart().toLowerCase();
  if (sql.startsWith('begin') || sql.startsWith('commit') || sql.startsWith('listen'))
    return sql.split(/\s/)[0]!;
  if (sql.includes('skip locked') || (sql.startsWith('update') && sql.includes("status = 'running'")))
    return 'claim';
  if (sql.includes("status = 'done'")) return 'complete';
  if (sql.startsWith('insert')) return 'enqueue';
  if (sql.includes('pg_notify')) return 'notify';
  return 'other';
};

const BATCH = 50;
/** How long the steady-state loop waits after a claim that found nothing. */
const POLL_MS = 50;

let tables = 0;

export class PlainSql implements System {
  readonly name = 'plain-sql' as const;
  readonly version: string;
  readonly log = new StatementLog(classify);
  readonly drainVariants: DrainVariant[] = [
    {
      name: 'batched',
      settings: `claim ${BATCH} per statement, run 10 at a time, complete the batch in one statement`,
      best: true,
    },
    { name: 'one by one', settings: '10 loops, each: claim 1, run, complete 1', best: false },
  ];
  readonly latencyVariants: LatencyVariant[] = [
    {
      name: 'LISTEN/NOTIFY',
      settings: 'NOTIFY in the enqueuing transaction; the listener claims by id',
      samples: 0,
    },
    {
      name: 'after commit',
      settings: 'the enqueuer claims by id right after its COMMIT (in process)',
      samples: 0,
    },
  ];
  readonly steadyVariants: SteadyVariant[] = [
    {
      name: 'batched',
      settings: `producers insert in their transactions; the batched loop (as in the drain), ${POLL_MS} ms pause after a claim that found nothing`,
      best: true,
      pollMs: POLL_MS,
    },
  ];
  readonly pool: pg.Pool;

  constructor(
    readonly url: string,
    latencySamples: number,
    postgresVersion: string,
  ) {
    this.version = `Postgres ${postgresVersion}`;
    this.pool = instrumentedPool({ connectionString: url, max: 12 }, this.log);
    for (const variant of this.latencyVariants) variant.samples = latencySamples;
  }

  async setup(): Promise<void> {
    await this.pool.query('select 1');
  }

  async #createTable(): Promise<string> {
    const table = `plain_jobs_${process.pid}_${++tables}`;
    await this.pool.query(`
      create table ${table} (
        id bigint generated always as identity primary key,
        payload jsonb not null,
        status text not null default 'ready',
        run_at timestamptz not null default now(),
        locked_until timestamptz
      );
      create index on ${table} (run_at, id) where status = 'ready';`);
    return table;
  }

  /** One task in a transaction of its own on `client`. */
  async #insertWith(client: pg.ClientBase, table: string, i: number): Promise<void> {
    await client.query('begin');
    await client.query(`insert into ${table} (payload) values ($1)`, [JSON.stringify({ i })]);
    await client.query('commit');
  }

  /** The same on a connection taken from `pool` for it. */
  async #insertOn(pool: pg.Pool, table: string, i: number): Promise<void> {
    const client = await pool.connect();
    try {
      await this.#insertWith(client, table, i);
    } catch (error) {
      await client.query('rollback').catch(() => {});
      throw error;
    } finally {
      client.release();
    }
  }

  #insertMany(table: string, payloads: { i: number }[]) {
    return this.pool.query(
      `insert into ${table} (payload) select value from jsonb_array_elements($1::jsonb)`,
      [JSON.stringify(payloads)],
    );
  }

  async enqueueEach(count: number): Promise<number> {
    const table = await this.#createTable();
    const client = await this.pool.connect();
    try {
      const started = performance.now();
      for (let i = 0; i < count; i++) await this.#insertWith(client, table, i);
      return performance.now() - started;
    } finally {
      client.release();
      await this.pool.query(`drop table ${table}`);
    }
  }

  async enqueueBatches(count: number, size: number): Promise<number> {
    const table = await this.#createTable();
    try {
      const started = performance.now();
      await produceBatches(count, size, (payloads) => this.#insertMany(table, payloads));
      return performance.now() - started;
    } finally {
      await this.pool.query(`drop table ${table}`);
    }
  }

  async #fillSeries(table: string, tasks: number, backlog = 0): Promise<void> {
    await this.pool.query(
      `insert into ${table} (payload) select jsonb_build_object('i', i) from generate_series(1, $1::int) as i`,
      [tasks],
    );
    if (backlog) {
      const finished = Math.floor(backlog / 2);
      await this.pool.query(
        `insert into ${table} (payload, status, run_at)
         select '{}', case when i <= $2 then 'done' else 'ready' end,
                case when i <= $2 then now() - interval '1 hour' else now() + interval '1 day' end
         from generate_series(1, $1::int) as i`,
        [backlog, finished],
      );
    }
    await this.pool.query(`vacuum analyze ${table}`);
  }

  /** Claims up to `limit` ready jobs of `table` with one statement. */
  async #claim(table: string, limit: number) {
    const { rows } = await this.pool.query<{ id: string; payload: { i: number } }>(
      `with next as materialized (
         select id from ${table} where status = 'ready' and run_at <= now()
         order by run_at, id limit $1 for update skip locked)
       update ${table} as job set status = 'running', locked_until = now() + interval '5 minutes'
       from next where job.id = next.id returning job.id, job.payload`,
      [limit],
    );
    return rows;
  }

  #complete(table: string, ids: string[]) {
    return this.pool.query(
      `update ${table} set status = 'done', locked_until = null where id = any($1::bigint[])`,
      [ids],
    );
  }

  /**
   * The batched loop: claim 50, run them `concurrency` at a time, mark them done in one statement;
   * after a claim that found nothing, `idle()` decides whether to go on.
   */
  async #batchedLoop(
    table: string,
    concurrency: number,
    run: (payload: { i: number }) => void,
    idle: () => Promise<boolean>,
  ): Promise<void> {
    for (;;) {
      const jobs = await this.#claim(table, BATCH);
      if (jobs.length === 0) {
        if (await idle()) continue;
        return;
      }
      await runLimited(jobs, concurrency, async (job) => run(job.payload));
      await this.#complete(
        table,
        jobs.map((job) => job.id),
      );
    }
  }

  async drain(variant: DrainVariant, input: DrainInput): Promise<DrainRun> {
    const table = await this.#createTable();
    try {
      return await this.#drain(table, variant, input);
    } finally {
      await this.pool.query(`drop table ${table}`);
    }
  }

  async #drain(table: string, variant: DrainVariant, input: DrainInput): Promise<DrainRun> {
    const filling = performance.now();
    const fill = input.fill ?? 'series';
    if (fill === 'series') await this.#fillSeries(table, input.tasks, input.backlog);
    else if (fill === 'each')
      await produce(input.tasks, FILL_PRODUCERS, (i) => this.#insertOn(this.pool, table, i));
    else await produceBatches(input.tasks, FILL_BATCH, (payloads) => this.#insertMany(table, payloads));
    const fillMs = performance.now() - filling;
    this.log.reset();
    let done = 0;
    const clock = new HandlerClock();
    const handler = async () => {
      clock.tick();
      done++;
    };
    input.onStart?.();
    const deadline = performance.now() + input.timeLimitMs;
    const started = performance.now();
    if (variant.name === 'batched') {
      while (performance.now() < deadline) {
        const jobs = await this.#claim(table, BATCH);
        if (jobs.length === 0) break;
        await runLimited(jobs, input.concurrency, handler);
        await this.#complete(
          table,
          jobs.map((job) => job.id),
        );
      }
    } else {
      const loop = async () => {
        while (performance.now() < deadline) {
          const [job] = await this.#claim(table, 1);
          if (!job) return;
          await handler();
          await this.#complete(table, [job.id]);
        }
      };
      await Promise.all(Array.from({ length: input.concurrency }, loop));
    }
    const ms = performance.now() - started;
    const statements = this.log.counts();
    const claimMs = [...(this.log.kinds.get('claim')?.samples ?? [])];
    return {
      tasks: done,
      ms,
      capped: done < input.tasks,
      statements,
      claimMs,
      fillMs,
      ...clock.since(started),
    };
  }

  async latency(variant: LatencyVariant): Promise<number[]> {
    const table = await this.#createTable();
    const channel = `${table}_ready`;
    const listener = await this.pool.connect();
    const enqueuer = await this.pool.connect();
    const latencies: number[] = [];
    let waiting: { resolve: (at: number) => void } | null = null;
    const claimById = async (id: string) => {
      const { rows } = await this.pool.query(
        `update ${table} set status = 'running', locked_until = now() + interval '5 minutes'
         where id = $1::bigint and status = 'ready' returning id, payload`,
        [id],
      );
      if (rows.length > 0) waiting?.resolve(performance.now()); // the handler starts here
    };
    try {
      if (variant.name === 'LISTEN/NOTIFY') {
        listener.on('notification', (message) => void claimById(message.payload!));
        await listener.query(`listen ${channel}`);
      }
      for (let i = 0; i < variant.samples; i++) {
        await gap(variant);
        const started = deferred<number>();
        waiting = started;
        await enqueuer.query('begin');
        const { rows } = await enqueuer.query<{ id: string }>(
          `insert into ${table} (payload) values ($1) returning id`,
          [JSON.stringify({ i })],
        );
        const id = rows[0]!.id;
        if (variant.name === 'LISTEN/NOTIFY') await enqueuer.query(`select pg_notify($1, $2)`, [channel, id]);
        await enqueuer.query('commit');
        const committed = this.log.lastEnd.get('commit')!;
        if (variant.name === 'after commit') void claimById(id);
        latencies.push((await started.promise) - committed);
        await this.pool.query(`update ${table} set status = 'done' where id = $1::bigint`, [id]);
      }
    } finally {
      if (variant.name === 'LISTEN/NOTIFY') await listener.query(`unlisten ${channel}`);
      listener.release();
      enqueuer.release();
      await this.pool.query(`drop table ${table}`);
    }
    return latencies;
  }

  async steady(_variant: SteadyVariant, input: SteadyInput): Promise<SteadySession> {
    const table = await this.#createTable();
    const producers = instrumentedPool({ connectionString: this.url, max: input.producers }, this.log);
    let stopping = false;
    const loop = this.#batchedLoop(
      table,
      input.concurrency,
      (payload) => input.onStart(payload.i),
      async () => {
        if (!stopping) await sleep(POLL_MS);
        return !stopping;
      },
    );
    return {
      enqueue: (i) => this.#insertOn(producers, table, i),
      close: async () => {
        try {
          stopping = true;
          await loop;
        } finally {
          await this.pool.query(`drop table ${table}`);
          await producers.end();
        }
      },
    };
  }

  async fillShared(tasks: number): Promise<string> {
    const table = await this.#createTable();
    await this.#fillSeries(table, tasks);
    return table;
  }

  async remaining(table: string): Promise<number> {
    const { rows } = await this.pool.query<{ count: string }>(
      `select count(*) from ${table} where status <> 'done'`,
    );
    return Number(rows[0]!.count);
  }

  async consume(table: string, concurrency: number): Promise<Consumer> {
    let done = 0;
    let stopping = false;
    const errors: string[] = [];
    let loop: Promise<void> = Promise.resolve();
    // As in the drain: until a claim finds nothing.
    const run = async () => {
      while (!stopping) {
        try {
          return await this.#batchedLoop(
            table,
            concurrency,
            () => {
              done++;
            },
            async () => false,
          );
        } catch (error) {
          errors.push(messageOf(error));
          await sleep(5);
        }
      }
    };
    return {
      start: async () => {
        loop = run();
      },
      get done() {
        return done;
      },
      errors,
      stop: async () => {
        stopping = true;
        await loop;
      },
    };
  }

  async dropShared(table: string): Promise<void> {
    await this.pool.query(`drop table if exists ${table}`);
  }

  async close(): Promise<void> {
    await this.pool.end();
  }
}
