/**
 * A database restart costs failed calls, never a leaked connection or a stuck shutdown. On each
 * server driver with interactive transactions (node-postgres, postgres-js, neon-serverless through
 * the local Neon proxy), a producer commits orders with their tasks through `manager.transaction`
 * while another instance ticks, through rounds of faults placed at known points: every backend
 * terminated (twice) while a transaction is open between two statements, the pool's idle
 * connections dropped silently so the next BEGIN is sent on a dead one, and a restart of the server.
 * Afterwards no connection is left checked out, the client's full size of transactions runs at
 * once, every committed order has exactly its task, and the client ends promptly. postgres.js gets
 * the terminations and restarts only between calls, for defects of its own (see RESTART_DRIVERS).
 *
 * The faults hit a throwaway cluster of this file's own (test/support/throwaway-cluster.ts), never
 * the shared server, reached through a proxy that can drop connections silently
 * (test/support/half-open-proxy.ts). The first block tests `runTransaction` itself on a pool.
 */

import * as neonProxy from '@gta/neon-proxy';
import { sql } from 'drizzle-orm';
import { drizzle as drizzleNodePostgres } from 'drizzle-orm/node-postgres';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTaskManager, defineTask, silentLogger, type TaskManager } from '../../core/src/index.js';
import { runTransaction } from '../../core/src/transaction-client.js';
import type { DriverConnection } from '../../core/test/support/databases.js';
import { type DriverName, useNeonProxy, userClients } from '../support/drivers.js';
import { type HalfOpenProxy, startHalfOpenProxy } from '../support/half-open-proxy.js';
import {
  startThrowawayCluster,
  type ThrowawayCluster,
  throwawayClusterAvailable,
} from '../support/throwaway-cluster.js';

const canRun = throwawayClusterAvailable();

/** The pool of the `runTransaction` tests: any size above one, as they count the one client they leave. */
const UNIT_POOL_SIZE = 4;
/** Rounds of the whole fault sequence (terminate twice mid-transaction, dead BEGIN, restart). */
const FAULT_ROUNDS = 2;
/** Transactions that must commit after the last fault before the checks. */
const COMMITS_AFTER_RECOVERY = 5;
/** How long anything that should settle may take: far more than it needs on a busy machine. */
const SETTLE_MS = 5000;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Whether `promise` settles within `ms`; a hang becomes a failed assertion instead of a timeout. */
async function settlesWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timedOut = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  const settled = promise.then(
    () => true,
    () => true,
  );
  try {
    return await Promise.race([settled, timedOut]);
  } finally {
    clearTimeout(timer);
  }
}

/** Waits until `condition` holds, checking every few milliseconds; throws after SETTLE_MS. */
async function until(condition: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + SETTLE_MS;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await sleep(5);
  }
}

/** A promise and the function that resolves it. */
function signal<T = void>(): { promise: Promise<T>; resolve: (value: T) => void } {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((done) => {
    resolve = done;
  });
  return { promise, resolve };
}

/** The rows of a `tx.execute` result, whichever driver returned it (postgres-js returns the rows). */
function rowsOf<Row>(result: any): Row[] {
  return Array.isArray(result) ? result : result.rows;
}

/** The node-postgres-compatible pool (node-postgres's or Neon's) a drizzle database is on, if any. */
function poolOf(db: any): pg.Pool | undefined {
  const client = db.$client;
  return typeof client?.totalCount === 'number' ? client : undefined;
}

/** A pool's counters, for assertions that print legibly. */
function countsOf(pool: pg.Pool) {
  return { total: pool.totalCount, idle: pool.idleCount, waiting: pool.waitingCount };
}

describe.skipIf(!canRun)('database restarts', () => {
  let cluster: ThrowawayCluster;
  let proxy: HalfOpenProxy;
  beforeAll(async () => {
    cluster = await startThrowawayCluster();
    proxy = await startHalfOpenProxy(cluster.port);
  });
  afterAll(async () => {
    await proxy?.close();
    await cluster?.destroy();
  });

  async function createDatabase(name: string): Promise<void> {
    await query('postgres', `create database ${name}`);
  }

  /**
   * Runs `text` on `database` of the cluster, bypassing the proxy, on a connection of its own: one
   * kept open would be terminated along with the others.
   */
  async function query<Row = any>(database: string, text: string): Promise<Row[]> {
    const client = new pg.Client({ connectionString: cluster.urlFor(database) });
    await client.connect();
    try {
      return (await client.query(text)).rows;
    } finally {
      await client.end();
    }
  }

  describe('runTransaction on a node-postgres pool', () => {
    let pool: pg.Pool;
    let db: ReturnType<typeof drizzleNodePostgres>;
    /** The reasons the pool's clients were released with, in order (undefined: healthy). */
    const releases: (Error | undefined)[] = [];
    beforeAll(async () => {
      await createDatabase('unit');
      await query('unit', 'create table items (name text not null)');
      pool = new pg.Pool({ connectionString: proxy.urlFor('unit'), max: UNIT_POOL_SIZE });
      // An idle client whose connection dies reports here; the pool has already discarded it.
      pool.on('error', () => {});
      pool.on('release', (error) => releases.push(error || undefined));
      db = drizzleNodePostgres({ client: pool });
    });
    afterAll(async () => {
      // Bounded: a pool that never ends has already failed a test, and must not hang the file.
      await settlesWithin(pool?.end(), SETTLE_MS);
    });

    /** Leaves exactly one open, idle client in the pool. */
    async function oneIdleClient(): Promise<void> {
      await pool.query('select 1');
      // Closing surplus idle clients keeps each test's arithmetic about one client.
      while (pool.idleCount > 1) (await pool.connect()).release(true);
      expect(countsOf(pool)).toEqual({ total: 1, idle: 1, waiting: 0 });
    }

    it('a BEGIN on a connection that died idle in the pool fails the call and destroys the client', async () => {
      await oneIdleClient();
      expect(proxy.dropIdleSilently()).toBe(1);
      let bodyRan = false;
      await expect(
        runTransaction(db, async () => {
          bodyRan = true;
        }),
      ).rejects.toThrow();
      expect(bodyRan).toBe(false);
      expect(countsOf(pool)).toEqual({ total: 0, idle: 0, waiting: 0 });
      expect(releases.at(-1)).toBeInstanceOf(Error);
      // The next transaction gets a fresh connection.
      await runTransaction(db, (tx) => tx.execute(sql`insert into items values ('after begin fault')`));
      expect(pool.totalCount).toBe(pool.idleCount);
    });

    it('a connection killed mid-body gives the caller the body’s error and destroys the client', async () => {
      await oneIdleClient();
      const inBody = signal();
      const resume = signal();
      let bodyError: unknown;
      const call = runTransaction(db, async (tx) => {
        await tx.execute(sql`insert into items values ('lost')`);
        inBody.resolve();
        await resume.promise;
        try {
          await tx.execute(sql`insert into items values ('lost too')`);
        } catch (error) {
          bodyError = error;
          throw error;
        }
      });
      const outcome = call.catch((error: unknown) => error);
      await inBody.promise;
      expect(await cluster.terminateBackends()).toBeGreaterThan(0);
      resume.resolve();
      expect(await outcome).toBe(bodyError);
      expect(bodyError).toBeInstanceOf(Error);
      expect(countsOf(pool)).toEqual({ total: 0, idle: 0, waiting: 0 });
      // The ROLLBACK failed too (the connection was gone): that is what the client went back with.
      expect(String(releases.at(-1)?.message)).toMatch(/rollback/);
      const rows = await query('unit', "select name from items where name like 'lost%'");
      expect(rows).toEqual([]);
    });

    it('a body error on a healthy connection rolls back and keeps the client', async () => {
      await oneIdleClient();
      const mine = new Error('the body changed its mind');
      await expect(
        runTransaction(db, async (tx) => {
          await tx.execute(sql`insert into items values ('rolled back')`);
          throw mine;
        }),
      ).rejects.toBe(mine);
      expect(countsOf(pool)).toEqual({ total: 1, idle: 1, waiting: 0 });
      expect(releases.at(-1)).toBeUndefined();
      const rows = await query('unit', "select name from items where name = 'rolled back'");
      expect(rows).toEqual([]);
    });

    it('a ROLLBACK that fails on a live connection destroys the client rather than pool it mid-transaction', async () => {
      // node-postgres's query_timeout gives up on a query at the client and leaves it running on
      // the server; the ROLLBACK queued behind it then times out unsent, so the connection is
      // still inside the transaction.
      const timed = new pg.Pool({ connectionString: proxy.urlFor('unit'), max: 1, query_timeout: 200 });
      let releasedWith: Error | undefined;
      timed.on('release', (error) => {
        releasedWith = error;
      });
      let bodyError: unknown;
      const outcome = await runTransaction(drizzleNodePostgres({ client: timed }), async (tx) => {
        await tx.execute(sql`insert into items values ('stale')`);
        try {
          await tx.execute(sql`select pg_sleep(1)`);
        } catch (error) {
          bodyError = error;
          throw error;
        }
      }).catch((error: unknown) => error);
      expect(outcome).toBe(bodyError);
      // The ROLLBACK's failure is not lost: the pool reports it as the reason of the release.
      expect(String(releasedWith?.message)).toMatch(/rollback/);
      expect(countsOf(timed)).toEqual({ total: 0, idle: 0, waiting: 0 });
      // The next user of the pool gets a fresh connection, outside any transaction.
      const { rows } = await timed.query('select txid_current_if_assigned() as xid');
      expect(rows).toEqual([{ xid: null }]);
      await timed.end();
    });

    it('a COMMIT that fails reaches the caller, and the client is not trusted again', async () => {
      await query('unit', 'create table deferred (id int unique deferrable initially deferred)');
      await oneIdleClient();
      await expect(
        runTransaction(db, (tx) => tx.execute(sql`insert into deferred values (1), (1)`)),
      ).rejects.toThrow(/commit/);
      expect(countsOf(pool)).toEqual({ total: 0, idle: 0, waiting: 0 });
    });

    it('a connection error in the same read that hands the client over is caught, and the client destroyed', async () => {
      // A pool of one, its client held, so the transaction waits for it. The holder then releases
      // it and the client reports an error in one go, as a socket read does that ends a response
      // and carries the backend's termination notice: nothing awaiting has resumed in between.
      const single = new pg.Pool({ connectionString: proxy.urlFor('unit'), max: 1 });
      const held = await single.connect();
      const call = runTransaction(drizzleNodePostgres({ client: single }), async () => 'committed');
      await until(() => single.waitingCount === 1, 'the transaction waits for the client');
      setImmediate(() => {
        held.release();
        held.emit('error', new Error('terminated as it was handed over'));
      });
      expect(await call).toBe('committed');
      expect(countsOf(single)).toEqual({ total: 0, idle: 0, waiting: 0 });
      await single.end();
    });

    it('savepoints work: an inner rollback keeps the outer transaction', async () => {
      const result = await runTransaction(db, async (tx) => {
        await tx.execute(sql`insert into items values ('outer')`);
        await tx
          .transaction(async (inner: any) => {
            await inner.execute(sql`insert into items values ('inner, rolled back')`);
            throw new Error('inner fails');
          })
          .catch(() => {});
        await tx.transaction((inner: any) => inner.execute(sql`insert into items values ('inner, kept')`));
        return 'committed';
      });
      expect(result).toBe('committed');
      const rows = await query(
        'unit',
        "select name from items where name like 'outer' or name like 'inner%'",
      );
      expect(rows.map((row) => row.name).sort()).toEqual(['inner, kept', 'outer']);
      expect(pool.totalCount).toBe(pool.idleCount);
    });
  });

  const shipOrder = defineTask({ key: 'ship-order', handler: (_arg: { orderId: number }) => {} });

  type Outcome = 'committed' | { failed: unknown };
  /** What the test asked of the producer's next transaction. */
  interface Plan {
    settled: (outcome: Outcome) => void;
    /** Wait after the insert: tell `reached`, then wait for `resume`. */
    pause?: { reached: () => void; resume: Promise<void> };
  }

  /**
   * The producer: commits one order and its task per transaction, in a loop, until stopped. The
   * test can watch the next transaction to start and pause it after the order's insert (a
   * transaction known to be open between two statements), or hold the loop after the next commit
   * (every connection of its client then idle).
   */
  function startProducer(manager: TaskManager) {
    const committedOrders: number[] = [];
    const failures: unknown[] = [];
    let stopped = false;
    let nextPlan: Plan | undefined;
    let holdAfterCommit: { held: () => void; release: Promise<void> } | undefined;

    const loop = (async () => {
      while (!stopped) {
        const plan = nextPlan;
        nextPlan = undefined;
        let outcome: Outcome;
        try {
          const orderId = await manager.transaction(async (tx) => {
            const [order] = rowsOf<{ id: number }>(
              await tx.execute(sql`insert into orders default values returning id`),
            );
            const orderId = Number(order!.id);
            if (plan?.pause) {
              plan.pause.reached();
              await plan.pause.resume;
            }
            await manager.enqueue(shipOrder, { orderId }, { tx });
            return orderId;
          });
          committedOrders.push(orderId);
          outcome = 'committed';
        } catch (error) {
          failures.push(error);
          outcome = { failed: error };
        }
        plan?.settled(outcome);
        if (outcome !== 'committed') {
          // While the server is down each call fails at once; don't spin.
          await sleep(5);
        } else if (holdAfterCommit) {
          const { held, release } = holdAfterCommit;
          holdAfterCommit = undefined;
          held();
          await release;
        }
      }
    })();

    return {
      committedOrders,
      failures,
      /** Watches the next transaction to start; with `pauseAfterInsert`, it waits there for `resume()`. */
      next({ pauseAfterInsert = false } = {}) {
        const outcome = signal<Outcome>();
        const paused = signal();
        const resume = signal();
        nextPlan = {
          settled: outcome.resolve,
          ...(pauseAfterInsert && { pause: { reached: paused.resolve, resume: resume.promise } }),
        };
        return { outcome: outcome.promise, paused: paused.promise, resume: () => resume.resolve() };
      },
      /** Holds the loop after its next commit; resolves once held, with the function that resumes it. */
      async holdAfterNextCommit() {
        const held = signal();
        const release = signal();
        holdAfterCommit = { held: held.resolve, release: release.promise };
        await held.promise;
        return () => release.resolve();
      },
      async stop() {
        stopped = true;
        await loop;
      },
    };
  }

  /** Another instance's cron: ticks until stopped; it can be held between ticks. */
  function startTicker(manager: TaskManager) {
    let stopped = false;
    let hold: { held: () => void; release: Promise<void> } | undefined;
    const loop = (async () => {
      while (!stopped) {
        if (hold) {
          const { held, release } = hold;
          hold = undefined;
          held();
          await release;
        }
        // A tick a fault fails is what a cron trigger sees too: the next one carries on.
        await manager.tick({ budgetMs: 200, concurrency: 2 }).catch(() => {});
        await sleep(10);
      }
    })();
    return {
      /** Holds the loop between ticks; resolves once held, with the function that resumes it. */
      async holdBetweenTicks() {
        const held = signal();
        const release = signal();
        hold = { held: held.resolve, release: release.promise };
        await held.promise;
        return () => release.resolve();
      },
      async stop() {
        stopped = true;
        await loop;
      },
    };
  }

  type Producer = ReturnType<typeof startProducer>;
  type Ticker = ReturnType<typeof startTicker>;

  /**
   * One round of faults at known points while both instances run: every backend terminated twice
   * while a transaction is open between two statements; the producer's idle connections dropped
   * silently, so its next BEGIN goes to a dead one; then a restart under load.
   */
  async function faultsInFlight(producer: Producer): Promise<void> {
    const paused = producer.next({ pauseAfterInsert: true });
    await paused.paused;
    expect(await cluster.terminateBackends()).toBeGreaterThan(0);
    await cluster.terminateBackends();
    paused.resume();
    expect(await paused.outcome).toMatchObject({ failed: expect.any(Error) });

    const release = await producer.holdAfterNextCommit();
    expect(proxy.dropIdleSilently()).toBeGreaterThan(0);
    const afterDrop = producer.next();
    release();
    expect(await afterDrop.outcome).toMatchObject({ failed: expect.any(Error) });

    await cluster.restart();
  }

  /** One round of the same server-side faults with both instances held between their calls. */
  async function faultsBetweenCalls(producer: Producer, ticker: Ticker): Promise<void> {
    const resumeProducer = await producer.holdAfterNextCommit();
    const resumeTicker = await ticker.holdBetweenTicks();
    expect(await cluster.terminateBackends()).toBeGreaterThan(0);
    await cluster.terminateBackends();
    await cluster.restart();
    resumeTicker();
    resumeProducer();
  }

  /** The user's client of `driver` on `database`, through the proxy (Neon's through the Neon proxy too). */
  async function openUserClient(driver: DriverName, database: string): Promise<DriverConnection> {
    const connection = await userClients[driver](proxy.urlFor(database));
    // As any user of a pool must: an idle client whose connection dies is reported here.
    poolOf(connection.db)?.on('error', () => {});
    return connection;
  }

  /**
   * The server drivers with interactive transactions, and why one runs only faults that land between
   * calls. postgres.js 3.4.9 cannot survive a connection dying under a call, whoever owns the
   * transaction: a write it schedules on the closed socket throws from a timer, ending the process
   * (porsager/postgres#1208), and the connection keeps the failed query, so `end()` without a
   * timeout never settles (porsager/postgres#1097).
   */
  const RESTART_DRIVERS: { name: DriverName; onlyBetweenCalls?: string }[] = [
    { name: 'drizzle-orm/node-postgres' },
    {
      name: 'drizzle-orm/postgres-js',
      onlyBetweenCalls:
        'postgres.js 3.4.9 crashes the process when a connection dies under a call, porsager/postgres#1208, and its end() then hangs, #1097',
    },
    { name: 'drizzle-orm/neon-serverless' },
  ];

  for (const { name: driver, onlyBetweenCalls } of RESTART_DRIVERS) {
    describe(driver, () => {
      let neon: neonProxy.NeonProxy | undefined;
      let database: string;
      const connections: DriverConnection[] = [];
      beforeAll(async () => {
        database = `restart_${driver.replace(/\W/g, '_')}`;
        await createDatabase(database);
        await query(database, 'create table orders (id bigint generated always as identity primary key)');
        if (driver === 'drizzle-orm/neon-serverless') {
          neon = await neonProxy.start({ postgresUrl: proxy.urlFor('postgres') });
          useNeonProxy(neon);
        }
        for (let i = 0; i < 2; i++) connections.push(await openUserClient(driver, database));
      });
      afterAll(async () => {
        // Bounded: a client that never ends has already failed the test, and must not hang the file.
        await Promise.all(connections.map((connection) => settlesWithin(connection.close(), SETTLE_MS)));
        await neon?.close();
      });

      const title = onlyBetweenCalls
        ? `a producer through repeated restarts, faults between calls only (${onlyBetweenCalls}), leaks no connection, loses no task, and ends`
        : 'a producer committing through repeated restarts leaks no connection, loses no task, and ends';
      it(title, async () => {
        const [producerClient, tickerClient] = connections as [DriverConnection, DriverConnection];
        const options = { tasks: [shipOrder], logger: silentLogger, concurrency: 2 };
        const producerManager = createTaskManager({ db: producerClient.db, ...options });
        const tickerManager = createTaskManager({ db: tickerClient.db, ...options });
        await producerManager.migrate();
        const producer = startProducer(producerManager);
        const ticker = startTicker(tickerManager);

        for (let round = 0; round < FAULT_ROUNDS; round++) {
          if (onlyBetweenCalls) await faultsBetweenCalls(producer, ticker);
          else await faultsInFlight(producer);
        }
        const committedBeforeRecovery = producer.committedOrders.length;
        await until(
          () => producer.committedOrders.length >= committedBeforeRecovery + COMMITS_AFTER_RECOVERY,
          'the producer commits again',
        );
        await producer.stop();
        await ticker.stop();
        expect(producer.failures.every((failure) => failure instanceof Error)).toBe(true);

        const pool = poolOf(producerClient.db);
        if (pool) {
          const { total, idle, waiting } = countsOf(pool);
          expect({ checkedOut: total - idle, waiting }).toEqual({ checkedOut: 0, waiting: 0 });
        }
        // The client's full size of transactions open at once (`max` of a pool and of postgres.js):
        // a leaked connection would leave one of them waiting for a connection forever.
        const size: number = producerClient.db.$client.options.max;
        let open = 0;
        const allOpen = signal();
        const full = Array.from({ length: size }, () =>
          producerManager.transaction(async (tx) => {
            const [order] = rowsOf<{ id: number }>(
              await tx.execute(sql`insert into orders default values returning id`),
            );
            await producerManager.enqueue(shipOrder, { orderId: Number(order!.id) }, { tx });
            if (++open === size) allOpen.resolve();
            await allOpen.promise;
            return Number(order!.id);
          }),
        );
        expect(await settlesWithin(allOpen.promise, SETTLE_MS)).toBe(true);
        producer.committedOrders.push(...(await Promise.all(full)));

        const orders = await query<{ id: string; tasks: number }>(
          database,
          `select o.id, count(t.id)::int as tasks from orders o
           left join gta_tasks t on t.task_key = 'ship-order' and (t.arg->>'orderId')::bigint = o.id
           group by o.id`,
        );
        expect(orders.filter((order) => order.tasks !== 1)).toEqual([]);
        const orphans = await query(
          database,
          `select id from gta_tasks t where task_key = 'ship-order'
           and not exists (select from orders o where o.id = (t.arg->>'orderId')::bigint)`,
        );
        expect(orphans).toEqual([]);
        const stored = new Set(orders.map((order) => Number(order.id)));
        expect(producer.committedOrders.filter((id) => !stored.has(id))).toEqual([]);

        await producerManager.stop();
        await tickerManager.stop();
        for (const connection of connections.splice(0)) {
          expect(await settlesWithin(connection.close(), SETTLE_MS)).toBe(true);
        }
      }, 60_000);
    });
  }
});
