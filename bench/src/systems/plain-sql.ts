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
  type DrainInput,
  type DrainRun,
  type DrainVariant,
  deferred,
  gap,
  type LatencyVariant,
  runLimited,
  type System,
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
  readonly pool: pg.Pool;

  constructor(url: string, latencySamples: number, postgresVersion: string) {
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

  async enqueueEach(count: number): Promise<number> {
    const table = await this.#createTable();
    const client = await this.pool.connect();
    const started = performance.now();
    try {
      for (let i = 0; i < count; i++) {
        await client.query('begin');
        await client.query(`insert into ${table} (payload) values ($1)`, [JSON.stringify({ i })]);
        await client.query('commit');
      }
    } finally {
      client.release();
    }
    const ms = performance.now() - started;
    await this.pool.query(`drop table ${table}`);
    return ms;
  }

  async enqueueBatches(count: number, size: number): Promise<number> {
    const table = await this.#createTable();
    const started = performance.now();
    for (let start = 0; start < count; start += size) {
      const payloads = Array.from({ length: Math.min(size, count - start) }, (_, i) => ({ i: start + i }));
      await this.pool.query(
        `insert into ${table} (payload) select value from jsonb_array_elements($1::jsonb)`,
        [JSON.stringify(payloads)],
      );
    }
    const ms = performance.now() - started;
    await this.pool.query(`drop table ${table}`);
    return ms;
  }

  async drain(variant: DrainVariant, input: DrainInput): Promise<DrainRun> {
    const table = await this.#createTable();
    await this.pool.query(
      `insert into ${table} (payload) select jsonb_build_object('i', i) from generate_series(1, $1::int) as i`,
      [input.tasks],
    );
    if (input.backlog) {
      const finished = Math.floor(input.backlog / 2);
      await this.pool.query(
        `insert into ${table} (payload, status, run_at)
         select '{}', case when i <= $2 then 'done' else 'ready' end,
                case when i <= $2 then now() - interval '1 hour' else now() + interval '1 day' end
         from generate_series(1, $1::int) as i`,
        [input.backlog, finished],
      );
    }
    await this.pool.query(`vacuum analyze ${table}`);
    this.log.reset();
    let done = 0;
    const handler = async () => {
      done++;
    };
    input.onStart?.();
    const deadline = performance.now() + input.timeLimitMs;
    const started = performance.now();
    const claim = async (limit: number) =>
      (
        await this.pool.query<{ id: string; payload: unknown }>(
          `with next as materialized (
             select id from ${table} where status = 'ready' and run_at <= now()
             order by run_at, id limit $1 for update skip locked)
           update ${table} as job set status = 'running', locked_until = now() + interval '5 minutes'
           from next where job.id = next.id returning job.id, job.payload`,
          [limit],
        )
      ).rows;
    const complete = (ids: string[]) =>
      this.pool.query(
        `update ${table} set status = 'done', locked_until = null where id = any($1::bigint[])`,
        [ids],
      );
    if (variant.name === 'batched') {
      while (performance.now() < deadline) {
        const jobs = await claim(BATCH);
        if (jobs.length === 0) break;
        await runLimited(jobs, input.concurrency, handler);
        await complete(jobs.map((job) => job.id));
      }
    } else {
      const loop = async () => {
        while (performance.now() < deadline) {
          const [job] = await claim(1);
          if (!job) return;
          await handler();
          await complete([job.id]);
        }
      };
      await Promise.all(Array.from({ length: input.concurrency }, loop));
    }
    const ms = performance.now() - started;
    const statements = this.log.counts();
    const claimMs = [...(this.log.kinds.get('claim')?.samples ?? [])];
    await this.pool.query(`drop table ${table}`);
    return { tasks: done, ms, capped: done < input.tasks, statements, claimMs };
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

  async close(): Promise<void> {
    await this.pool.end();
  }
}
