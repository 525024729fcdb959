/**
 * The engine property test's machinery (`engine.property.test.ts`): generated scenarios, and their
 * interpreter on the real Postgres.
 *
 * A scenario is two instances (managers with their own pools and caps) and a list of steps: ticks,
 * whose next claim may be held back before it is sent or after its answer came; enqueues started
 * by a commit hook; transactions held open and committed or rolled back in a generated order;
 * handlers let go one by one; `stop()`; and an instance dying, after which nothing it sends
 * answers and none of its handlers runs again, as when an invocation's process ends. The steps
 * come from a few episodes, each a race one guarantee is about, interleaved with each other and
 * with single steps in a generated order. After the steps every gate opens and a surviving
 * instance, its clock an hour ahead so that every lease of the dead is expired, drains the table
 * with `tick`.
 *
 * Every handler run is logged on one logical timeline (starts, ends, commits, claims sent, stops,
 * deaths), which the test checks against the guarantees once the run is over. Each step is
 * followed by a wait until no statement of any instance is in flight, so that the steps, not the
 * scheduler, decide the interleaving wherever one statement at a time is on its way.
 */
import type { SQL } from 'drizzle-orm';
import fc from 'fast-check';
import {
  createTaskManager,
  defineTask,
  migrate,
  silentLogger,
  type TaskContext,
  type TaskDefinition,
  type TaskManager,
  type WaitUntil,
} from '../../../core/src/index.js';
import { Gate, sleep, within } from '../../../core/test/support/concurrency.js';
import type { TestDatabase } from '../../../core/test/support/databases.js';
import { isClaim, sqlText } from '../../../core/test/support/gated-db.js';

// ---------------------------------------------------------------------------------------------
// Scenarios

export type SequenceKey = 'a' | 'b';

export interface TaskSpec {
  sequenceKey: SequenceKey | null;
  /** The task definition's retries: it is `failed` after `retryTimes + 1` counted attempts. */
  retryTimes: 0 | 1;
  /** How many of the task's first handler runs throw; the later ones return. */
  throwsFirst: number;
  /** Whether each run waits for the scenario to let it go (a `finish` step), or returns at once. */
  gated: boolean;
}

export type InstanceIndex = 0 | 1;

/** Where the instance's next claim statement stops: nowhere, before it is sent, or after its answer came. */
export type ClaimHold = 'none' | 'before-send' | 'after-answer';

export type Step =
  /** A tick, handing its running work to `waitUntil` when `handOver`, else awaiting it. */
  | { kind: 'tick'; on: InstanceIndex; hold: ClaimHold; handOver: boolean }
  /** Lets the instance's held claims go on. */
  | { kind: 'release'; on: InstanceIndex }
  /** A plain enqueue, committed on its own and started by the instance's commit hook. */
  | { kind: 'enqueue'; on: InstanceIndex; task: TaskSpec }
  /** A transaction that enqueues `tasks` and stays open: a foreign one, or an instance's `transaction`. */
  | { kind: 'open'; label: string; via: 'foreign' | InstanceIndex; tasks: TaskSpec[] }
  /** Commits or rolls back the transaction `label`, if it is open. */
  | { kind: 'close'; label: string; commit: boolean }
  /** Lets the `pick`-th waiting handler return or throw (modulo how many wait). */
  | { kind: 'finish'; pick: number }
  | { kind: 'stop'; on: InstanceIndex }
  | { kind: 'die'; on: InstanceIndex };

export interface Scenario {
  concurrency: [number, number];
  /** Tasks committed before the steps, by a transaction no commit hook follows. */
  committed: TaskSpec[];
  steps: Step[];
}

const taskSpec: fc.Arbitrary<TaskSpec> = fc.record({
  sequenceKey: fc.constantFrom<SequenceKey | null>(null, 'a', 'a', 'b'),
  retryTimes: fc.constantFrom<0 | 1>(0, 1),
  throwsFirst: fc.constantFrom(0, 0, 1, 2),
  gated: fc.constantFrom(true, true, false),
});

const instance = fc.constantFrom<InstanceIndex>(0, 1);
const hold = fc.constantFrom<ClaimHold>('none', 'before-send', 'after-answer');
const via = fc.constantFrom<'foreign' | InstanceIndex>('foreign', 'foreign', 0, 1);

/**
 * Episodes: the races each guarantee is about, each a few steps in their own order. A scenario
 * interleaves several of them with single steps, in an order fast-check also generates, so that
 * the races meet each other. `n` makes the labels of an episode's transactions unique.
 */
const episodes: ((n: number) => fc.Arbitrary<Step[]>)[] = [
  // A transaction holds an earlier task of a key while a later one is committed and runs.
  (n) =>
    fc
      .record({
        via,
        key: fc.constantFrom<SequenceKey>('a', 'b'),
        first: taskSpec,
        later: taskSpec,
        on: instance,
        tickOn: instance,
        handOver: fc.boolean(),
      })
      .map(({ via, key, first, later, on, tickOn, handOver }): Step[] => [
        { kind: 'open', label: `t${n}`, via, tasks: [{ ...first, sequenceKey: key }] },
        { kind: 'enqueue', on, task: { ...later, sequenceKey: key, gated: true } },
        { kind: 'close', label: `t${n}`, commit: true },
        { kind: 'tick', on: tickOn, hold: 'none', handOver },
      ]),
  // An instance dies after a claim was answered, or with tasks running or in its tick's queue.
  (n) =>
    fc
      .record({
        tasks: fc.array(taskSpec, { maxLength: 4 }),
        on: instance,
        hold: fc.constantFrom<ClaimHold>('none', 'after-answer'),
        handOver: fc.boolean(),
      })
      .map(({ tasks, on, hold, handOver }): Step[] => [
        ...(tasks.length > 0
          ? [
              { kind: 'open' as const, label: `t${n}`, via: 'foreign' as const, tasks },
              { kind: 'close' as const, label: `t${n}`, commit: true },
            ]
          : []),
        { kind: 'tick', on, hold, handOver },
        { kind: 'die', on },
      ]),
  // stop() is called while a claim is in flight or handlers run; then work keeps coming.
  () =>
    fc
      .record({
        on: instance,
        running: fc.option(taskSpec, { nil: undefined }),
        hold,
        handOver: fc.boolean(),
        task: taskSpec,
        enqueueAfter: fc.boolean(),
        tickAfter: fc.boolean(),
      })
      .map(({ on, running, hold, handOver, task, enqueueAfter, tickAfter }): Step[] => [
        ...(running ? [{ kind: 'enqueue' as const, on, task: { ...running, gated: true } }] : []),
        { kind: 'tick', on, hold, handOver },
        { kind: 'stop', on },
        ...(enqueueAfter ? [{ kind: 'enqueue' as const, on, task }] : []),
        ...(tickAfter ? [{ kind: 'tick' as const, on, hold: 'none' as const, handOver: true }] : []),
        { kind: 'release', on },
      ]),
  // Commit hooks start tasks while a tick's claim is on its way.
  () =>
    fc
      .record({
        on: instance,
        handOver: fc.boolean(),
        tasks: fc.array(taskSpec, { minLength: 1, maxLength: 3 }),
      })
      .map(({ on, handOver, tasks }): Step[] => [
        { kind: 'tick', on, hold: 'before-send', handOver },
        ...tasks.map((task) => ({ kind: 'enqueue' as const, on, task: { ...task, gated: true } })),
        { kind: 'release', on },
      ]),
  // A transaction that commits or rolls back later.
  (n) =>
    fc
      .record({ via, tasks: fc.array(taskSpec, { minLength: 1, maxLength: 2 }), commit: fc.boolean() })
      .map(({ via, tasks, commit }): Step[] => [
        { kind: 'open', label: `t${n}`, via, tasks },
        { kind: 'close', label: `t${n}`, commit },
      ]),
];

const single: fc.Arbitrary<Step> = fc.oneof(
  {
    weight: 3,
    arbitrary: fc.record({ kind: fc.constant('tick' as const), on: instance, hold, handOver: fc.boolean() }),
  },
  {
    weight: 2,
    arbitrary: fc.record({ kind: fc.constant('enqueue' as const), on: instance, task: taskSpec }),
  },
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('finish' as const), pick: fc.nat(5) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('release' as const), on: instance }) },
);

/** Merges step lists, keeping each list's order: `order[i]` picks the list the i-th step comes from. */
function interleave(lists: Step[][], order: number[]): Step[] {
  const queues = lists.map((list) => [...list]).filter((list) => list.length > 0);
  const merged: Step[] = [];
  for (const pick of order) {
    const live = queues.filter((queue) => queue.length > 0);
    if (live.length === 0) break;
    merged.push(live[pick % live.length]!.shift()!);
  }
  for (const queue of queues) merged.push(...queue);
  return merged;
}

export const scenarios: fc.Arbitrary<Scenario> = fc
  .record({
    concurrency: fc.tuple(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 3 })),
    committed: fc.array(taskSpec, { maxLength: 5 }),
    episodes: fc
      .array(fc.nat(episodes.length - 1), { minLength: 3, maxLength: 7 })
      .chain((kinds) => fc.tuple(...kinds.map((kind, n) => episodes[kind]!(n)))),
    singles: fc.array(single, { maxLength: 12 }),
    order: fc.array(fc.nat(), { maxLength: 40 }),
  })
  .map(({ concurrency, committed, episodes, singles, order }) => ({
    concurrency,
    committed,
    steps: interleave([...episodes, ...singles.map((step) => [step])], order),
  }));

// ---------------------------------------------------------------------------------------------
// The log

/** One call of a handler on a live instance: the handler started. */
export interface HandlerRun {
  taskId: number;
  instance: string;
  sequenceKey: SequenceKey | null;
  /** 0 for the task's first started run, 1 for its second, … */
  index: number;
  startedAt: number;
  /** When the handler returned or threw, or its instance died; null if it never ended. */
  endedAt: number | null;
  end: 'returned' | 'threw' | 'died' | null;
  /** When the claim statement that handed the task to this run was sent; undefined if its insert claimed it. */
  claimSentAt: number | undefined;
}

/** Counts the events of a run, so that they can be ordered whichever promise they came from. */
export class Timeline {
  #now = 0;
  next(): number {
    return ++this.#now;
  }
}

export class RunLog {
  readonly timeline = new Timeline();
  readonly runs: HandlerRun[] = [];
  /** When `stop()` was called on each instance. */
  readonly stopCalledAt = new Map<string, number>();
  readonly diedAt = new Map<string, number>();
  readonly #waiting: { run: HandlerRun; gate: Gate }[] = [];
  #allOpen = false;
  /** `instance:taskId` → when the latest claim that returned the task to the instance was sent. */
  readonly #claimedBy = new Map<string, number>();

  claimAnswered(instance: string, sentAt: number, ids: number[]): void {
    for (const id of ids) this.#claimedBy.set(`${instance}:${id}`, sentAt);
  }

  /** A handler was called; null when its instance is dead (a dead process runs nothing). */
  begin(instance: string, taskId: number, sequenceKey: SequenceKey | null): HandlerRun | null {
    if (this.diedAt.has(instance)) return null;
    const run: HandlerRun = {
      taskId,
      instance,
      sequenceKey,
      index: this.runs.filter((other) => other.taskId === taskId).length,
      startedAt: this.timeline.next(),
      endedAt: null,
      end: null,
      claimSentAt: this.#claimedBy.get(`${instance}:${taskId}`),
    };
    this.runs.push(run);
    return run;
  }

  /** Resolves when the scenario lets `run` go on (at once once everything is open). */
  async hold(run: HandlerRun): Promise<void> {
    if (this.#allOpen) return;
    const gate = new Gate();
    this.#waiting.push({ run, gate });
    await gate.opened;
  }

  end(run: HandlerRun, how: 'returned' | 'threw'): void {
    // A run cut short by its instance's death ended then, whatever the in-process remains do.
    if (run.end !== null) return;
    run.end = how;
    run.endedAt = this.timeline.next();
  }

  /** Lets the `pick`-th waiting run of a live instance go on. */
  finish(pick: number): void {
    const live = this.#waiting.filter(({ run }) => run.end === null);
    const chosen = live[pick % Math.max(1, live.length)];
    if (!chosen) return;
    this.#waiting.splice(this.#waiting.indexOf(chosen), 1);
    chosen.gate.open();
  }

  stopCalled(instance: string): void {
    this.stopCalledAt.set(instance, this.timeline.next());
  }

  /** The instance's process ends: its running handlers end with it. */
  died(instance: string): void {
    const at = this.timeline.next();
    this.diedAt.set(instance, at);
    for (const run of this.runs) {
      if (run.instance === instance && run.end === null) {
        run.end = 'died';
        run.endedAt = at;
      }
    }
  }

  openAll(): void {
    this.#allOpen = true;
    for (const { gate } of this.#waiting.splice(0)) gate.open();
  }
}

// ---------------------------------------------------------------------------------------------
// An instance's database

const never = new Promise<never>(() => {});

/**
 * A drizzle database wrapper (the idea of core/test/support/gated-db.ts, with a hold after the
 * answer and a count of statements in flight): the next claim can be held before it is sent or
 * after its answer came, and once the instance dies nothing answers any more, not even a statement
 * already on its way.
 */
export class InstanceDb {
  readonly db: any;
  /** Statements sent to the database and not answered yet. */
  inflight = 0;
  /** Claims held so far. */
  held = 0;
  #dead = false;
  #armed: ClaimHold = 'none';
  readonly #held: Gate[] = [];

  constructor(
    readonly inner: any,
    readonly timeline: Timeline,
    readonly onClaimAnswered: (sentAt: number, ids: number[]) => void,
  ) {
    this.db = {
      execute: (query: SQL) => this.#execute(query),
      transaction: (fn: (tx: any) => Promise<unknown>, config?: unknown) =>
        this.#dead ? never : inner.transaction(fn, config),
      get $client() {
        return inner.$client;
      },
    };
  }

  get dead(): boolean {
    return this.#dead;
  }

  /** Holds the next claim statement as `hold` says. */
  arm(hold: ClaimHold): void {
    this.#armed = hold;
  }

  /** Lets the held claims go on, and holds no later one. */
  release(): void {
    this.#armed = 'none';
    for (const gate of this.#held.splice(0)) gate.open();
  }

  die(): void {
    this.#dead = true;
    this.release();
  }

  async #hold(): Promise<void> {
    this.#armed = 'none';
    this.held++;
    const gate = new Gate();
    this.#held.push(gate);
    await gate.opened;
  }

  async #execute(query: SQL): Promise<unknown> {
    if (this.#dead) return never;
    const text = sqlText(query);
    const claim = isClaim(text);
    if (claim && this.#armed === 'before-send') {
      await this.#hold();
      if (this.#dead) return never;
    }
    const sentAt = this.timeline.next();
    this.inflight++;
    let result: unknown;
    try {
      result = await this.inner.execute(query);
    } catch (error) {
      if (this.#dead) return never;
      throw error;
    } finally {
      this.inflight--;
    }
    if (this.#dead) return never;
    if (claim) {
      // Read before returning: the storage module empties the driver's rows array.
      const rows = ((result as { rows?: { id?: unknown }[] }).rows ?? []) as { id?: unknown }[];
      this.onClaimAnswered(
        sentAt,
        rows.filter((row) => row.id !== null && row.id !== undefined).map((row) => Number(row.id)),
      );
      if (this.#armed === 'after-answer') {
        await this.#hold();
        if (this.#dead) return never;
      }
    }
    return result;
  }
}

// ---------------------------------------------------------------------------------------------
// The interpreter

/** Where a run happens: the database, and a drizzle database on its own pool for each instance and for foreign transactions. */
export interface RunEnvironment {
  database: TestDatabase;
  instanceDbs: [any, any];
  foreignDb: any;
  table: string;
}

export interface StoredTask {
  id: number;
  status: string;
  attempts: number;
}

export interface RunResult {
  log: RunLog;
  /** The spec of every committed task, by id. */
  committed: Map<number, TaskSpec>;
  /** When each committed task was known to be committed (its commit answered). */
  committedAt: Map<number, number>;
  /** Ids enqueued in transactions that rolled back. */
  rolledBack: number[];
  concurrency: Map<string, number>;
  rows: StoredTask[];
  /** How many claims the steps held back. */
  claimsHeld: number;
  /** Rejections of ticks, stops or transactions the scenario did not expect. */
  errors: string[];
}

/** The surviving instance's clock is this far ahead: every lease the dead held has expired. */
const CLOCK_AHEAD_MS = 3_600_000;
const SURVIVOR_CONCURRENCY = 3;
/** Long enough that no tick of a run stops claiming for lack of time. */
const TICK_BUDGET_MS = 10_000;
/** A step waits at most this long for the statements it caused. */
const SETTLE_LIMIT_MS = 2000;
const MAX_OPEN_TRANSACTIONS = 3;

class RolledBack extends Error {}

interface Instance {
  name: string;
  db: InstanceDb;
  manager: TaskManager<any>;
  /** Its ticks, commit hooks and stop: awaited at the end, unless the instance died. */
  pending: Promise<unknown>[];
  collect: WaitUntil;
  stopped: boolean;
}

interface OpenTransaction {
  label: string;
  via: 'foreign' | InstanceIndex;
  ids: number[];
  specs: TaskSpec[];
  close: (fate: 'commit' | 'rollback') => void;
  done: Promise<'committed' | 'rolled back'>;
}

export async function runScenario(scenario: Scenario, env: RunEnvironment): Promise<RunResult> {
  const log = new RunLog();
  const errors: string[] = [];
  /** Every enqueued task's spec, by the label its argument carries. */
  const labels: TaskSpec[] = [];
  const committed = new Map<number, TaskSpec>();
  const committedAt = new Map<number, number>();
  const rolledBack: number[] = [];
  const concurrency = new Map<string, number>([['survivor', SURVIVOR_CONCURRENCY]]);
  await migrate(env.database.db, { table: env.table });

  const definitions = (name: string): TaskDefinition<any, any, any>[] => {
    const handler = async ({ n }: { n: number }, ctx: TaskContext) => {
      const spec = labels[n]!;
      const run = log.begin(name, ctx.task.id, spec.sequenceKey);
      if (!run) return never;
      if (spec.gated) await log.hold(run);
      const throws = run.index < spec.throwsFirst;
      log.end(run, throws ? 'threw' : 'returned');
      if (throws) throw new Error(`scripted failure of run ${run.index}`);
    };
    return [0, 1].map((retryTimes) =>
      defineTask({ key: `r${retryTimes}`, retryTimes, retryInterval: () => 0, handler }),
    );
  };
  const keyOf = (spec: TaskSpec) => `r${spec.retryTimes}`;
  const label = (spec: TaskSpec) => labels.push(spec) - 1;

  const instances: Instance[] = scenario.concurrency.map((cap, index) => {
    const name = index === 0 ? 'A' : 'B';
    concurrency.set(name, cap);
    const db = new InstanceDb(env.instanceDbs[index], log.timeline, (sentAt, claimed) =>
      log.claimAnswered(name, sentAt, claimed),
    );
    const pending: Promise<unknown>[] = [];
    const manager = createTaskManager({
      db: db.db,
      table: env.table,
      tasks: definitions(name),
      logger: silentLogger,
      concurrency: cap,
    });
    return { name, db, manager, pending, collect: (work) => void pending.push(work), stopped: false };
  });
  const keep = (on: Instance, what: string, work: Promise<unknown>) => {
    on.pending.push(
      work.catch((error: unknown) => void errors.push(`${what} on ${on.name}: ${String(error)}`)),
    );
  };
  const open: OpenTransaction[] = [];

  const commit = (id: number, spec: TaskSpec) => {
    committed.set(id, spec);
    committedAt.set(id, log.timeline.next());
  };

  const enqueueIn = async (tx: any, spec: TaskSpec, via: TaskManager<any>) => {
    return via.enqueue(
      keyOf(spec),
      { n: label(spec) },
      { tx, ...(spec.sequenceKey ? { sequenceKey: spec.sequenceKey } : {}) },
    );
  };

  const openTransaction = async (label: string, via: 'foreign' | InstanceIndex, specs: TaskSpec[]) => {
    const enqueued = new Gate();
    let fate: (value: 'commit' | 'rollback') => void = () => {};
    const closing = new Promise<'commit' | 'rollback'>((resolve) => {
      fate = resolve;
    });
    const transactionIds: number[] = [];
    const body = async (tx: any) => {
      const by = via === 'foreign' ? instances[0]!.manager : instances[via]!.manager;
      for (const spec of specs) transactionIds.push(await enqueueIn(tx, spec, by));
      enqueued.open();
      if ((await closing) === 'rollback') throw new RolledBack();
    };
    const run =
      via === 'foreign'
        ? env.foreignDb.transaction(body)
        : instances[via]!.manager.transaction(body, { waitUntil: instances[via]!.collect });
    const done = run.then(
      () => 'committed' as const,
      (error: unknown) => {
        if (error instanceof RolledBack) return 'rolled back' as const;
        throw error;
      },
    );
    await Promise.race([enqueued.opened, done]);
    open.push({ label, via, ids: transactionIds, specs, close: fate, done });
  };

  const closeTransaction = async (transaction: OpenTransaction, how: 'commit' | 'rollback') => {
    open.splice(open.indexOf(transaction), 1);
    transaction.close(how);
    let outcome: 'committed' | 'rolled back';
    try {
      outcome = await transaction.done;
    } catch (error) {
      errors.push(`a transaction failed: ${String(error)}`);
      return;
    }
    if (outcome === 'committed') {
      transaction.ids.forEach((id, index) => void commit(id, transaction.specs[index]!));
    } else {
      rolledBack.push(...transaction.ids);
    }
  };

  const settle = async () => {
    const until = Date.now() + SETTLE_LIMIT_MS;
    for (let quiet = 0; quiet < 3 && Date.now() < until; ) {
      await new Promise((resolve) => setImmediate(resolve));
      if (instances.every((on) => on.db.inflight === 0)) quiet++;
      else {
        quiet = 0;
        await sleep(1);
      }
    }
  };

  // Tasks committed before anything runs, for scanners only.
  if (scenario.committed.length > 0) {
    const first: { id: number; spec: TaskSpec }[] = [];
    await env.foreignDb.transaction(async (tx: any) => {
      for (const spec of scenario.committed) {
        first.push({ id: await enqueueIn(tx, spec, instances[0]!.manager), spec });
      }
    });
    for (const { id, spec } of first) commit(id, spec);
  }

  for (const step of scenario.steps) {
    const on = 'on' in step ? instances[step.on]! : undefined;
    switch (step.kind) {
      case 'tick':
        if (on!.db.dead) break;
        on!.db.arm(step.hold);
        keep(
          on!,
          'tick',
          on!.manager.tick({
            budgetMs: TICK_BUDGET_MS,
            ...(step.handOver ? { waitUntil: on!.collect } : {}),
          }),
        );
        break;
      case 'release':
        on!.db.release();
        break;
      case 'enqueue': {
        if (on!.db.dead) break;
        const spec = step.task;
        const id = await on!.manager.enqueue(
          keyOf(spec),
          { n: label(spec) },
          { waitUntil: on!.collect, ...(spec.sequenceKey ? { sequenceKey: spec.sequenceKey } : {}) },
        );
        commit(id, spec);
        break;
      }
      case 'open':
        if (open.length >= MAX_OPEN_TRANSACTIONS) break;
        if (step.via !== 'foreign' && instances[step.via]!.db.dead) break;
        await openTransaction(step.label, step.via, step.tasks);
        break;
      case 'close': {
        const transaction = open.find((each) => each.label === step.label);
        if (transaction) await closeTransaction(transaction, step.commit ? 'commit' : 'rollback');
        break;
      }
      case 'finish':
        log.finish(step.pick);
        break;
      case 'stop':
        if (on!.db.dead || on!.stopped) break;
        // Whatever was decided before this point has called its handler by now.
        await new Promise((resolve) => setImmediate(resolve));
        log.stopCalled(on!.name);
        on!.stopped = true;
        keep(on!, 'stop', on!.manager.stop());
        break;
      case 'die': {
        if (on!.db.dead) break;
        on!.db.die();
        log.died(on!.name);
        // Its open transactions go with its connections.
        const index = instances.indexOf(on!);
        for (const transaction of open.filter((t) => t.via === index)) {
          await closeTransaction(transaction, 'rollback');
        }
        break;
      }
    }
    await settle();
  }

  // Everything opens, every transaction commits, and the live instances finish what they hold.
  log.openAll();
  for (const on of instances) on.db.release();
  for (const transaction of [...open]) await closeTransaction(transaction, 'commit');
  await settle();
  for (const on of instances.filter((each) => !each.db.dead)) {
    for (let awaited = 0; awaited < on.pending.length; ) {
      const batch = on.pending.slice(awaited);
      awaited = on.pending.length;
      await within(15_000, `the work of instance ${on.name}`, Promise.all(batch));
    }
  }

  // The survivor rescues what the dead held and drains the table until nothing is due.
  const survivorDb = new InstanceDb(env.database.db, log.timeline, (sentAt, claimed) =>
    log.claimAnswered('survivor', sentAt, claimed),
  );
  const survivor = createTaskManager({
    db: survivorDb.db,
    table: env.table,
    tasks: definitions('survivor'),
    logger: silentLogger,
    concurrency: SURVIVOR_CONCURRENCY,
    clock: () => new Date(Date.now() + CLOCK_AHEAD_MS),
  });
  for (let round = 0; round < 30; round++) {
    const report = await within(15_000, 'a tick of the survivor', survivor.tick({ budgetMs: 5000 }));
    if (report.claimed === 0 && report.rescued === 0) break;
  }

  const rows = await env.database.query<StoredTask>(
    `select id::int as id, status, attempts from "${env.table}" where task_key not like 'gta:%' order by id`,
  );
  await env.database.exec(`drop table "${env.table}"`);
  const claimsHeld = instances.reduce((sum, on) => sum + on.db.held, 0);
  return { log, committed, committedAt, rolledBack, concurrency, rows, claimsHeld, errors };
}
