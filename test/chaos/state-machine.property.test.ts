/**
 * Property test of the state machine: random interleavings of enqueue (plain, or claimed by its
 * insert for the commit hook), start records, claim, complete, fail, lease expiry with rescue,
 * forced rerun and cancel — including completions by stale lease holders — run against the real
 * storage statements (PGlite, injected clock) and against a model. Tasks may belong to one of two
 * concurrency groups and to a rate-limited group, whose rules the model applies to each claim.
 * After every step the table must equal the model, and every status change must be a transition
 * of core/src/states.ts.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TRANSITIONS } from '../../core/src/states.js';
import * as storage from '../../core/src/storage/index.js';
import { createPgliteDatabase, type TestDatabase } from '../../core/test/support/databases.js';

interface ModelTask {
  status: 'initialized' | 'running' | 'succeeded' | 'failed' | 'cancelled';
  /** A cancel asked for while it ran: it ends `cancelled`, whatever its attempt's outcome. */
  cancelRequested: boolean;
  attempts: number;
  maxAttempts: number;
  runAt: number;
  leaseExpiresAt: number | null;
  token: string | null;
  /** Whether a running task's start is recorded; a rescue gives back the attempt of one that is not. */
  started: boolean;
  /** Its concurrency group, or null. */
  group: string | null;
  /** Whether it belongs to the rate-limited group. */
  rated: boolean;
}

const TIMEOUT_MS = 1000;
const MARGIN_MS = 100;
/** Leases cover the whole timeout here: the heartbeats are the executor's, not the statements'. */
const HEARTBEAT_LEASE_MS = 3_600_000;
/** Each concurrency group runs at most this many at once. */
const GROUP_LIMIT = 2;
/** The rate-limited group starts at most RATE.limit tasks in any RATE.periodMs. */
const RATE = { limit: 2, periodMs: 1000 };
const LIMITS: storage.GroupLimits = {
  concurrency: [{ key: 'prop', limit: GROUP_LIMIT }],
  rate: [{ key: 'prop', ...RATE }],
};

type Op =
  | {
      kind: 'enqueue';
      retries: number;
      delayMs: number;
      claimed: boolean;
      group: string | null;
      rated: boolean;
    }
  | { kind: 'start'; pick: number }
  | { kind: 'claim'; limit: number }
  | { kind: 'complete'; pick: number; stale: boolean }
  | { kind: 'fail'; pick: number; stale: boolean; retryDelayMs: number }
  | { kind: 'advance'; ms: number }
  | { kind: 'rescue' }
  | { kind: 'rerun'; picks: number[]; status: ModelTask['status'] }
  | { kind: 'cancel'; pick: number };

const op: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant('enqueue' as const),
      retries: fc.nat(2),
      delayMs: fc.constantFrom(0, 0, 500),
      claimed: fc.boolean(),
      group: fc.constantFrom(null, null, 'g0', 'g1'),
      rated: fc.boolean(),
    }),
  },
  fc.record({ kind: fc.constant('start' as const), pick: fc.nat(20) }),
  {
    weight: 3,
    arbitrary: fc.record({ kind: fc.constant('claim' as const), limit: fc.integer({ min: 1, max: 3 }) }),
  },
  fc.record({ kind: fc.constant('complete' as const), pick: fc.nat(20), stale: fc.boolean() }),
  fc.record({
    kind: fc.constant('fail' as const),
    pick: fc.nat(20),
    stale: fc.boolean(),
    retryDelayMs: fc.constantFrom(0, 300),
  }),
  fc.record({ kind: fc.constant('advance' as const), ms: fc.constantFrom(200, 600, 1500) }),
  fc.record({ kind: fc.constant('rescue' as const) }),
  fc.record({
    kind: fc.constant('rerun' as const),
    picks: fc.array(fc.nat(20), { maxLength: 3 }),
    status: fc.constantFrom('failed', 'succeeded', 'running', 'initialized', 'cancelled') as fc.Arbitrary<
      ModelTask['status']
    >,
  }),
  fc.record({ kind: fc.constant('cancel' as const), pick: fc.nat(20) }),
);

const allowed = new Set(TRANSITIONS.map((t) => `${t.from}->${t.to}`));

describe('the state machine under random interleavings', () => {
  let database: TestDatabase;
  let run = 0;
  beforeAll(async () => {
    database = await createPgliteDatabase();
  });
  afterAll(() => database.close());

  it('keeps the table equal to the model and every change a known transition', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(op, { minLength: 10, maxLength: 50, size: 'max' }), async (ops) => {
        const table = `prop_${run++}`;
        let now = Date.UTC(2026, 0, 1);
        const context: storage.StorageContext = { db: database.db, table, clock: () => new Date(now) };
        await storage.migrate(database.db, { table });
        const model = new Map<number, ModelTask>();
        // When each slot of the rate-limited group frees.
        const rateFreeAt = Array.from({ length: RATE.limit }, () => Number.NEGATIVE_INFINITY);
        const issued = new Map<number, string[]>();
        const ids = () => [...model.keys()];
        const pickId = (pick: number) => ids()[pick % Math.max(1, model.size)];

        for (const step of ops) {
          const before = new Map([...model].map(([id, task]) => [id, task.status]));
          switch (step.kind) {
            case 'enqueue': {
              // Only a task due now and of no group is claimed by its insert, as the executor decides.
              const limited = step.group !== null || step.rated;
              const claim =
                step.claimed && step.delayMs === 0 && !limited
                  ? { leaseMs: MARGIN_MS, heartbeatLeaseMs: HEARTBEAT_LEASE_MS }
                  : null;
              const { id, claimed } = await storage.insertTask(
                context,
                {
                  key: 'prop',
                  arg: '{}',
                  context: null,
                  maxAttempts: step.retries + 1,
                  timeoutMs: TIMEOUT_MS,
                  initTimeoutSensitive: false,
                  runAt: null,
                  delayMs: step.delayMs,
                  dedupeKey: null,
                  dedupeFor: 'stored',
                  sequenceKey: null,
                  priority: 0,
                  concurrencyKey: step.group,
                  rateKey: step.rated ? '' : null,
                  parentId: null,
                },
                claim,
              );
              expect(claimed !== null).toBe(claim !== null);
              model.set(id, {
                cancelRequested: false,
                status: claimed ? 'running' : 'initialized',
                attempts: claimed ? 1 : 0,
                maxAttempts: step.retries + 1,
                runAt: now + step.delayMs,
                leaseExpiresAt: claimed ? now + TIMEOUT_MS + MARGIN_MS : null,
                token: claimed?.lease_token ?? null,
                started: false,
                group: step.group,
                rated: step.rated,
              });
              if (claimed) issued.set(id, [claimed.lease_token!]);
              break;
            }
            case 'start': {
              const id = pickId(step.pick);
              const token = id === undefined ? undefined : issued.get(id)?.at(-1);
              if (id === undefined || token === undefined) break;
              const task = model.get(id)!;
              const { started } = await storage.writeBatch(context, {
                successes: [],
                starts: [{ id, leaseToken: token, agoMs: 0 }],
                claim: undefined,
              });
              const records = task.status === 'running' && task.token === token && !task.started;
              expect(started.size).toBe(records ? 1 : 0);
              if (records) task.started = true;
              break;
            }
            case 'claim': {
              const running = (group: string) =>
                [...model.values()].filter((task) => task.status === 'running' && task.group === group)
                  .length;
              // The candidates: due tasks whose group is not full and whose rate group has a free
              // slot, in claim order, up to the limit.
              const rateSpent = rateFreeAt.every((at) => at > now);
              const candidates = [...model]
                .filter(
                  ([, task]) =>
                    task.status === 'initialized' &&
                    task.runAt <= now &&
                    (task.group === null || running(task.group) < GROUP_LIMIT) &&
                    !(task.rated && rateSpent),
                )
                .sort(([a, x], [b, y]) => x.runAt - y.runAt || a - b)
                .slice(0, step.limit);
              // Of each group, as many as it has room for; of those rated, as many as slots are free.
              const room = new Map(['g0', 'g1'].map((group) => [group, GROUP_LIMIT - running(group)]));
              const busyUntil = rateFreeAt.filter((at) => at > now);
              const freeSlots = rateFreeAt.flatMap((at, slot) => (at <= now ? [slot] : []));
              const due: number[] = [];
              const deferred: number[] = [];
              for (const [id, task] of candidates) {
                if (task.group !== null) {
                  if (room.get(task.group)! === 0) continue;
                  room.set(task.group, room.get(task.group)! - 1);
                }
                if (task.rated) {
                  const slot = freeSlots.shift();
                  if (slot === undefined) {
                    deferred.push(id);
                    continue;
                  }
                  rateFreeAt[slot] = now + RATE.periodMs;
                }
                due.push(id);
              }
              // A deferred task is due when the group's first slot frees.
              const nextFree = Math.min(now + RATE.periodMs, ...busyUntil);
              for (const id of deferred) {
                const task = model.get(id)!;
                task.runAt = Math.max(task.runAt, nextFree);
              }
              const claimed = await storage.claimTasks(context, {
                limit: step.limit,
                keys: ['prop'],
                leaseMargin: MARGIN_MS,
                initializedTimeout: 3_600_000,
                heartbeatLeaseMs: HEARTBEAT_LEASE_MS,
                limits: LIMITS,
              });
              const rows = claimed.rows;
              expect(rows.map((row) => Number(row.id)).sort((a, b) => a - b)).toEqual(
                due.sort((a, b) => a - b),
              );
              expect(claimed.passedOver).toBe(candidates.length - due.length);
              expect(claimed.deferred).toBe(deferred.length);
              for (const row of rows) {
                const task = model.get(Number(row.id))!;
                Object.assign(task, {
                  status: 'running',
                  attempts: task.attempts + 1,
                  leaseExpiresAt: now + TIMEOUT_MS + MARGIN_MS,
                  token: row.lease_token,
                  started: false,
                });
                issued.set(Number(row.id), [...(issued.get(Number(row.id)) ?? []), row.lease_token!]);
              }
              break;
            }
            case 'complete':
            case 'fail': {
              const id = pickId(step.pick);
              const tokens = id === undefined ? [] : (issued.get(id) ?? []);
              if (id === undefined || tokens.length === 0) break;
              const task = model.get(id)!;
              const token = step.stale ? tokens[0]! : tokens[tokens.length - 1]!;
              const holds = task.status === 'running' && task.token === token;
              if (step.kind === 'complete') {
                const children = await storage.completeTask(
                  context,
                  { id, leaseToken: token, startedAgoMs: 0 },
                  { deleteRow: false, children: [] },
                );
                expect(children !== null).toBe(holds);
                if (holds) {
                  Object.assign(task, {
                    status: task.cancelRequested ? 'cancelled' : 'succeeded',
                    token: null,
                    leaseExpiresAt: null,
                    started: true,
                  });
                }
              } else {
                const retry = task.attempts < task.maxAttempts;
                const recorded = await storage.failTask(
                  context,
                  { id, leaseToken: token, startedAgoMs: 0 },
                  { error: 'boom', retryDelayMs: retry ? step.retryDelayMs : null },
                );
                expect(recorded !== null).toBe(holds);
                if (holds) {
                  Object.assign(task, { token: null, leaseExpiresAt: null, started: true });
                  if (task.cancelRequested) task.status = 'cancelled';
                  else if (retry)
                    Object.assign(task, { status: 'initialized', runAt: now + step.retryDelayMs });
                  else task.status = 'failed';
                }
              }
              break;
            }
            case 'advance':
              now += step.ms;
              break;
            case 'rescue': {
              const expired = [...model.values()].filter(
                (task) => task.status === 'running' && task.leaseExpiresAt! < now,
              );
              const rescued = await storage.rescueExpiredLeases(context, 100);
              expect(rescued.retried + rescued.failed + rescued.cancelled).toBe(expired.length);
              for (const task of expired) {
                // An attempt whose start was never recorded is given back, not counted.
                const retry = !task.started || task.attempts < task.maxAttempts;
                Object.assign(task, {
                  status: task.cancelRequested ? 'cancelled' : retry ? 'initialized' : 'failed',
                  attempts: task.started ? task.attempts : Math.max(0, task.attempts - 1),
                  runAt: now,
                  token: null,
                  leaseExpiresAt: null,
                });
              }
              break;
            }
            case 'rerun': {
              const chosen = [
                ...new Set(step.picks.map(pickId).filter((id) => id !== undefined)),
              ] as number[];
              const moved = await storage.forceRerunTasks(context, chosen, step.status);
              const matching = chosen.filter((id) => model.get(id)!.status === step.status);
              expect(moved).toBe(matching.length);
              for (const id of matching) {
                Object.assign(model.get(id)!, {
                  status: 'initialized',
                  cancelRequested: false,
                  attempts: 0,
                  runAt: now,
                  token: null,
                  leaseExpiresAt: null,
                });
              }
              break;
            }
            case 'cancel': {
              const id = pickId(step.pick);
              if (id === undefined) break;
              const task = model.get(id)!;
              const outcome = await storage.cancelTask(context, id, 'cancelled');
              // A waiting task is cancelled at once; a running one is asked to, once.
              const expected =
                task.status === 'initialized'
                  ? 'cancelled'
                  : task.status === 'running' && !task.cancelRequested
                    ? 'requested'
                    : null;
              expect(outcome).toBe(expected);
              if (outcome === 'cancelled') task.status = 'cancelled';
              if (outcome === 'requested') task.cancelRequested = true;
              break;
            }
          }
          const rows = await database.query<{
            id: number;
            status: string;
            attempts: number;
            lease_token: string | null;
            started: boolean;
            run_at: number;
          }>(
            `select id, status, attempts, lease_token, started_at is not null as started,
               (extract(epoch from run_at) * 1000)::float8 as run_at
             from ${table} where task_key = 'prop' order by id`,
          );
          // Whether a start is recorded matters while the task runs; when it is due, while it waits.
          const view = (status: string, started: boolean) => (status === 'running' ? started : null);
          const due = (status: string, runAt: number) => (status === 'initialized' ? Number(runAt) : null);
          expect(
            rows.map((row) => [
              Number(row.id),
              row.status,
              row.attempts,
              row.lease_token,
              view(row.status, row.started),
              due(row.status, row.run_at),
            ]),
          ).toEqual(
            [...model].map(([id, task]) => [
              id,
              task.status,
              task.attempts,
              task.token,
              view(task.status, task.started),
              due(task.status, task.runAt),
            ]),
          );
          for (const [id, status] of before) {
            const after = model.get(id)!.status;
            if (after !== status || step.kind === 'rerun') {
              if (after !== status) expect(allowed.has(`${status}->${after}`)).toBe(true);
            }
          }
        }
      }),
      { numRuns: 80 },
    );
  }, 120_000);
});
