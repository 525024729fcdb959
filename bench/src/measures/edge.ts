/**
 * The edge path: gta on `drizzle-orm/neon-http` through the local Neon proxy, with a round trip
 * added to every HTTP request, as a function far from its database would see. Every neon-http
 * statement is an HTTP request of its own (a `db.batch` is one request carrying several), and
 * Cloudflare Workers count each as a subrequest: 1,000 per invocation on the free plan, 10,000 on
 * the paid one, at most 6 open at once. The proxy is the only place the requests pass, so they are
 * counted there, with the statements each carried and how many were open at once.
 *
 * (a) The commit hook: `manager.enqueue(task, arg)` on its own, one task at a time (its insert
 * commits and claims; the handler starts on its reply; the outcome is written), timed at the added
 * delay and without it; and the atomic form, `db.batch([your insert, db.execute(await
 * manager.enqueueStatement(…))])`, whose tasks ticks start later. (b) The tick path: a backlog
 * committed first, then `manager.tick` calls, each what one cron invocation runs, until one claims
 * nothing.
 * @module
 */
import { performance } from 'node:perf_hooks';
import { createTaskManager, defineTask, silentLogger } from '@gta/core';
import * as neonProxy from '@gta/neon-proxy';
import { neon, neonConfig } from '@neondatabase/serverless';
import { sql } from 'drizzle-orm';
import { drizzle } from 'drizzle-orm/neon-http';
import { type Latency, latencyOf } from '../stats.js';
import { classifyGta } from '../systems/gta.js';
import { deferred } from '../systems/types.js';

/** The round trip added to every request unless told otherwise (ms). */
export const DEFAULT_EDGE_DELAY_MS = 20;
/** Subrequests a Workers invocation may make: free plan, paid plan. */
export const WORKERS_SUBREQUESTS = [1000, 10_000] as const;
/** Outgoing connections (sockets and `fetch` calls alike) a Workers invocation may hold at once. */
export const WORKERS_CONNECTIONS = 6;
/** Wall time of a scheduled (cron) Workers invocation. */
export const WORKERS_CRON_WALL_MS = 15 * 60 * 1000;
/**
 * The budget of each tick: longer than any backlog here takes, as a cron invocation's is (the
 * Workers adapter gives a tick most of the 15 minutes), so a tick ends when nothing is due.
 */
export const EDGE_TICK_BUDGET_MS = 60_000;

const TASK_TABLE = 'gta_edge_tasks';
const ORDERS_TABLE = 'gta_edge_orders';
/** Tasks per `db.batch` when the tick path's backlog is committed. */
const FILL_BATCH = 100;

export interface EdgeConfig {
  quick: boolean;
  /** The round trip added to every request at the proxy (ms). @defaultValue 20 */
  delayMs?: number;
}

/** What reached the proxy over one stretch of the measurement. */
export interface Traffic {
  /** HTTP requests (Workers subrequests). */
  requests: number;
  /** Statements they carried: one each, or a batch's. */
  statements: number;
  /** Most requests open at the proxy at once. */
  maxInFlight: number;
  /** Requests by what they carried (a statement kind, or `batch: kind + kind`), in order of first use. */
  byKind: Record<string, number>;
}

/** One tick that ran tasks, as one cron invocation would. */
export interface EdgeInvocation {
  tasks: number;
  requests: number;
  maxInFlight: number;
  ms: number;
}

export interface EdgeCapacity {
  subrequests: number;
  /** Tasks one invocation can run within that many subrequests, at the measured cost. */
  tasks: number;
}

export interface EdgeLatency {
  /** From calling `enqueue` to the handler's first line. */
  enqueueToStartMs: Latency;
  /** From calling `enqueue` to its outcome written (the commit hook's work settled). */
  endToEndMs: Latency;
}

export interface EdgeResult {
  driver: 'drizzle-orm/neon-http';
  delayMs: number;
  /** Handlers a tick runs at once: the connections a Workers invocation may hold. */
  concurrency: number;
  commitHook: EdgeLatency & {
    tasks: number;
    traffic: Traffic;
    requestsPerTask: number;
    /** The same path through a proxy that adds nothing: what this machine adds to each request. */
    withoutDelay: EdgeLatency;
    capacity: EdgeCapacity[];
  };
  batch: {
    enqueues: number;
    traffic: Traffic;
    requestsPerEnqueue: number;
    /** The ticks that then ran those tasks, the last (finding nothing) included. */
    ticks: Traffic;
    tickRequestsPerTask: number;
  };
  tick: {
    tasks: number;
    budgetMs: number;
    /** The ticks that claimed something, in order. */
    invocations: EdgeInvocation[];
    /** Every tick of the drain, the last (finding nothing) included. */
    traffic: Traffic;
    requestsPerTask: number;
    statementsPerTask: number;
    /** A tick that finds nothing due: what every invocation pays before its first task. */
    idleTick: Traffic;
    /** The first tick on a fresh table, which also runs the maintenance round. */
    maintenanceTick: Traffic;
    /** Requests per task beyond each tick's idle cost. */
    marginalRequestsPerTask: number;
    /** Wall time of the draining ticks per task. */
    msPerTask: number;
    capacity: EdgeCapacity[];
  };
}

/**
 * The kind of one statement: gta's named as the drain's counter names them, the maintenance round's
 * own statements apart (every tick sends `take maintenance round`; the rest run only in the round
 * it wins), and the caller's own insert of the batch path.
 */
function kindOf(text: string): string {
  const lower = text.trimStart().toLowerCase();
  if (lower.includes(ORDERS_TABLE)) return 'your insert';
  if (lower.startsWith('with advanced as')) return 'take maintenance round';
  if (lower.startsWith('update') && lower.includes('lease_token = null') && lower.includes('task_key =')) {
    return 'end maintenance round';
  }
  if (lower.startsWith('with old as')) return 'clean succeeded';
  if (lower.includes('initialized-too-long')) return 'abnormal report';
  const kind = classifyGta(text);
  return kind === 'other' ? `other (${lower.split(/\s+/, 3).join(' ')})` : kind;
}

/** Counts what the proxy receives, by its `onSqlRequest` hook. */
class TrafficCounter {
  #requests = 0;
  #statements = 0;
  #inFlight = 0;
  #maxInFlight = 0;
  #byKind = new Map<string, number>();
  #idle: (() => void) | undefined;

  readonly observe: neonProxy.SqlRequestObserver = (queries) => {
    this.#requests++;
    this.#statements += queries.length;
    const kinds = queries.map(kindOf);
    const kind = kinds.length === 1 ? kinds[0]! : `batch: ${kinds.join(' + ')}`;
    this.#byKind.set(kind, (this.#byKind.get(kind) ?? 0) + 1);
    this.#maxInFlight = Math.max(this.#maxInFlight, ++this.#inFlight);
    return () => {
      if (--this.#inFlight === 0) this.#idle?.();
    };
  };

  /** What arrived since the last call (or the start), once no request is open; then starts over. */
  async take(): Promise<Traffic> {
    if (this.#inFlight > 0) await new Promise<void>((resolve) => (this.#idle = resolve));
    this.#idle = undefined;
    const traffic: Traffic = {
      requests: this.#requests,
      statements: this.#statements,
      maxInFlight: this.#maxInFlight,
      byKind: Object.fromEntries(this.#byKind),
    };
    this.#requests = 0;
    this.#statements = 0;
    this.#maxInFlight = 0;
    this.#byKind.clear();
    return traffic;
  }
}

function sizes(quick: boolean) {
  return {
    hookTasks: quick ? 50 : 200,
    hookTasksWithoutDelay: quick ? 20 : 50,
    batchEnqueues: quick ? 50 : 200,
    tickTasks: quick ? 500 : 2000,
    warmUp: 10,
  };
}

function progress(message: string): void {
  process.stderr.write(`  edge: ${message}\n`);
}

/** Tasks within each Workers subrequest limit: `fixed` requests per invocation, then `perTask`. */
function capacity(fixed: number, perTask: number): EdgeCapacity[] {
  return WORKERS_SUBREQUESTS.map((subrequests) => ({
    subrequests,
    tasks: Math.max(0, Math.floor((subrequests - fixed) / perTask)),
  }));
}

/** Starts a proxy in front of `databaseUrl` that adds `delayMs` per round trip and reports to `counter`. */
function proxyFor(databaseUrl: string, delayMs: number, counter: TrafficCounter) {
  return neonProxy.start({ postgresUrl: databaseUrl, addedDelayMs: delayMs, onSqlRequest: counter.observe });
}

export async function measureEdge(config: EdgeConfig, databaseUrl: string): Promise<EdgeResult> {
  const delayMs = config.delayMs ?? DEFAULT_EDGE_DELAY_MS;
  const size = sizes(config.quick);
  const counter = new TrafficCounter();
  const directCounter = new TrafficCounter();
  const proxy = await proxyFor(databaseUrl, delayMs, counter);
  const direct = await proxyFor(databaseUrl, 0, directCounter);
  // `neonConfig` is process-wide, and `neon()` reads its endpoint at each query; nothing else in
  // this process uses the Neon driver meanwhile.
  const previousEndpoint = neonConfig.fetchEndpoint;
  neonConfig.fetchEndpoint = proxy.httpEndpoint;
  try {
    const db = drizzle({ client: neon(databaseUrl) });
    let started = deferred<number>();
    const noop = defineTask({ key: 'noop', handler: () => started.resolve(performance.now()) });
    const manager = createTaskManager({
      db,
      table: TASK_TABLE,
      tasks: [noop],
      logger: silentLogger,
      concurrency: WORKERS_CONNECTIONS,
    });
    const tick = () => manager.tick({ budgetMs: EDGE_TICK_BUDGET_MS, concurrency: WORKERS_CONNECTIONS });
    progress(`migrating through the proxy, ${delayMs} ms added per request`);
    await manager.migrate();
    await db.execute(
      sql.raw(`create table ${ORDERS_TABLE} (id bigint generated always as identity primary key, item text)`),
    );
    await counter.take();
    // The first tick on the fresh table runs the maintenance round; the next finds nothing to do.
    await tick();
    const maintenanceTick = await counter.take();
    await tick();
    const idleTick = await counter.take();

    /** Enqueues `count` tasks on their own, one at a time, after a few to open fetch's connections. */
    const commitHook = async (count: number): Promise<EdgeLatency> => {
      const toStart: number[] = [];
      const endToEnd: number[] = [];
      for (let i = 0; i < size.warmUp + count; i++) {
        if (i === size.warmUp) await counter.take();
        started = deferred<number>();
        const work: Promise<unknown>[] = [];
        const calledAt = performance.now();
        await manager.enqueue(noop, {}, { waitUntil: (promise) => void work.push(promise) });
        const startedAt = await started.promise;
        await Promise.all(work);
        if (i >= size.warmUp) {
          toStart.push(startedAt - calledAt);
          endToEnd.push(performance.now() - calledAt);
        }
      }
      return { enqueueToStartMs: latencyOf(toStart), endToEndMs: latencyOf(endToEnd) };
    };

    // (a) The commit hook, at the delay, then through the proxy that adds nothing.
    progress(`commit hook: ${size.hookTasks} tasks, each enqueued on its own`);
    const hook = await commitHook(size.hookTasks);
    const hookTraffic = await counter.take();
    neonConfig.fetchEndpoint = direct.httpEndpoint;
    progress(`commit hook without the added delay: ${size.hookTasksWithoutDelay} tasks`);
    const withoutDelay = await commitHook(size.hookTasksWithoutDelay);
    neonConfig.fetchEndpoint = proxy.httpEndpoint;
    // Both proxies' counts prove the switch: every request of that run went the undelayed way.
    if ((await counter.take()).requests > 0 || (await directCounter.take()).requests === 0) {
      throw new Error('the run without the added delay did not go through the undelayed proxy');
    }
    const hookPerTask = hookTraffic.requests / size.hookTasks;
    progress(
      `  ${hookPerTask.toFixed(2)} requests per task, p50 ${hook.endToEndMs.p50.toFixed(1)} ms to the outcome`,
    );

    progress(`batch: ${size.batchEnqueues} × db.batch([your insert, enqueueStatement]), then ticks`);
    for (let i = 0; i < size.batchEnqueues; i++) {
      await db.batch([
        db.execute(sql.raw(`insert into ${ORDERS_TABLE} (item) values ('kettle')`)),
        db.execute(await manager.enqueueStatement(noop, {})),
      ]);
    }
    const batchTraffic = await counter.take();
    const batchTicks = await drain(tick, counter);
    if (batchTicks.tasks !== size.batchEnqueues) {
      throw new Error(`the ticks ran ${batchTicks.tasks} of ${size.batchEnqueues} tasks enqueued in batches`);
    }

    // (b) The tick path: the backlog committed in batches (not counted), then drained.
    progress(`tick path: ${size.tickTasks} tasks committed, then ticks until one claims nothing`);
    for (let first = 0; first < size.tickTasks; first += FILL_BATCH) {
      const count = Math.min(FILL_BATCH, size.tickTasks - first);
      const statements = await Promise.all(
        Array.from({ length: count }, () => manager.enqueueStatement(noop, {})),
      );
      const [head, ...rest] = statements.map((statement) => db.execute(statement));
      await db.batch([head!, ...rest]);
    }
    await counter.take();
    const ticks = await drain(tick, counter);
    if (ticks.tasks !== size.tickTasks)
      throw new Error(`the ticks ran ${ticks.tasks} of ${size.tickTasks} tasks`);
    const fixed = idleTick.requests * (ticks.invocations.length + 1);
    const marginal = (ticks.traffic.requests - fixed) / size.tickTasks;
    const drainMs = ticks.invocations.reduce((sum, invocation) => sum + invocation.ms, 0);
    progress(
      `  ${ticks.traffic.requests} requests for ${size.tickTasks} tasks in ${ticks.invocations.length} draining tick(s)`,
    );
    return {
      driver: 'drizzle-orm/neon-http',
      delayMs,
      concurrency: WORKERS_CONNECTIONS,
      commitHook: {
        tasks: size.hookTasks,
        traffic: hookTraffic,
        requestsPerTask: hookPerTask,
        ...hook,
        withoutDelay,
        capacity: capacity(0, hookPerTask),
      },
      batch: {
        enqueues: size.batchEnqueues,
        traffic: batchTraffic,
        requestsPerEnqueue: batchTraffic.requests / size.batchEnqueues,
        ticks: batchTicks.traffic,
        tickRequestsPerTask: batchTicks.traffic.requests / size.batchEnqueues,
      },
      tick: {
        tasks: size.tickTasks,
        budgetMs: EDGE_TICK_BUDGET_MS,
        invocations: ticks.invocations,
        traffic: ticks.traffic,
        requestsPerTask: ticks.traffic.requests / size.tickTasks,
        statementsPerTask: ticks.traffic.statements / size.tickTasks,
        idleTick,
        maintenanceTick,
        marginalRequestsPerTask: marginal,
        msPerTask: drainMs / size.tickTasks,
        capacity: capacity(idleTick.requests, marginal),
      },
    };
  } finally {
    neonConfig.fetchEndpoint = previousEndpoint;
    await Promise.all([proxy.close(), direct.close()]);
  }
}

/**
 * Ticks until one claims nothing. The traffic counts every tick, the last included; the
 * invocations are the ticks that ran tasks.
 */
async function drain(
  tick: () => Promise<{ claimed: number; succeeded: number }>,
  counter: TrafficCounter,
): Promise<{ tasks: number; invocations: EdgeInvocation[]; traffic: Traffic }> {
  const invocations: EdgeInvocation[] = [];
  const total: Traffic = { requests: 0, statements: 0, maxInFlight: 0, byKind: {} };
  for (;;) {
    const startedAt = performance.now();
    const report = await tick();
    const ms = performance.now() - startedAt;
    const traffic = await counter.take();
    total.requests += traffic.requests;
    total.statements += traffic.statements;
    total.maxInFlight = Math.max(total.maxInFlight, traffic.maxInFlight);
    for (const [kind, count] of Object.entries(traffic.byKind)) {
      total.byKind[kind] = (total.byKind[kind] ?? 0) + count;
    }
    if (report.claimed === 0) break;
    invocations.push({
      tasks: report.succeeded,
      requests: traffic.requests,
      maxInFlight: traffic.maxInFlight,
      ms,
    });
  }
  const tasks = invocations.reduce((sum, invocation) => sum + invocation.tasks, 0);
  return { tasks, invocations, traffic: total };
}
