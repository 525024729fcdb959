/**
 * The task manager: registers task definitions, enqueues (plain, in its own transaction, in a
 * foreign transaction, many at once), runs the commit hook, and exposes `tick`, the long-lived
 * runner and the operator's queries.
 * @module
 */
import { type SQL, sql } from 'drizzle-orm';
import { type MemoryTaskTable, memoryStore, memoryTaskTable, memoryTransaction } from './dry-run.js';
import { describeThrown, ERROR_CODES, GtaError } from './errors.js';
import { Executor, QUEUE_WAIT_MS } from './executor.js';
import { clockNow, type ResolvedOptions, resolveOptions, type TaskManagerOptions } from './options.js';
import { assertOptionsObject, prepareTask, type TaskRef, TaskRegistry } from './prepare.js';
import { Runner } from './runner.js';
import {
  type Schedule,
  ScheduleBook,
  type ScheduleDefinition,
  type ScheduleInfo,
  scheduleInfo,
} from './schedules.js';
import { Scope, Slots } from './slots.js';
import { isTaskStatus, TASK_STATES, type TaskStatus } from './states.js';
import {
  type MigrateResult,
  type SelectedRow,
  sqlStore,
  type TaskStore,
  toTaskRow,
} from './storage/index.js';
import { MAX_TASK_KEY_LENGTH, type TaskDefinition } from './task.js';
import { runTick } from './tick.js';
import { runTransaction } from './transaction-client.js';
import {
  type ClaimBudget,
  type CommittedTask,
  type TrackedTransaction,
  TransactionTracker,
} from './transactions.js';
import type {
  AbnormalTask,
  EnqueueOnceResult,
  EnqueueOptions,
  ListTasksFilter,
  SqlExecutor,
  TaskId,
  TaskRow,
  TaskStats,
  ThroughputPoint,
  TickOptions,
  TickReport,
  TransactionalDatabase,
  WaitUntil,
} from './types.js';

/** The transaction type a drizzle database hands to `db.transaction(fn)`. */
export type TransactionOf<DB> = 0 extends 1 & DB
  ? any
  : DB extends {
        transaction(fn: (tx: infer Tx) => Promise<any>, ...rest: any[]): Promise<any>;
      }
    ? Tx
    : SqlExecutor;

/** Any task definition, whatever its argument, context, input and key. */
export type AnyTaskDefinition = TaskDefinition<any, any, any, string>;

/** The keys of the definitions `Tasks` (a union of them), each as its literal type. */
export type TaskKeyOf<Tasks> = Tasks extends TaskDefinition<any, any, any, infer Key> ? Key : never;

/** What an enqueue of a manager with the definitions `Tasks` names its task by: a definition, or a key of one. */
export type TaskRefOf<Tasks> = AnyTaskDefinition | TaskKeyOf<Tasks>;

/**
 * The argument an enqueue of `T` takes: a definition's input; for a key, the input of the
 * definition in `Tasks` under that key (`unknown` when the key is not known as a literal type).
 */
export type ArgOf<T, Tasks = AnyTaskDefinition> =
  T extends TaskDefinition<any, any, infer Input, any>
    ? Input
    : T extends string
      ? InputOfKey<Tasks, T>
      : never;

type InputOfKey<Tasks, K extends string> =
  Tasks extends TaskDefinition<any, any, infer Input, infer Key>
    ? string extends Key
      ? unknown
      : K extends Key
        ? Input
        : never
    : never;

export const DEFAULT_LIST_LIMIT = 50;
export const MAX_LIST_LIMIT = 1000;
export const MAX_IDS_PER_CALL = 10_000;

/**
 * Enqueues, runs and inspects tasks. `Tasks` is the union of the definitions given in `tasks`
 * (and added with `register`), which types an enqueue by key.
 */
export class TaskManager<
  DB extends SqlExecutor = SqlExecutor,
  Tasks extends AnyTaskDefinition = AnyTaskDefinition,
> {
  readonly options: ResolvedOptions;
  readonly registry = new TaskRegistry();
  readonly #schedules = new ScheduleBook(this.registry);
  readonly #db: SqlExecutor | undefined;
  readonly #store: TaskStore;
  /** Aborted when `stop()` is called (or the root signal aborts): nothing more is claimed or started. */
  readonly #stopping = new AbortController();
  /** Aborted once a stop stops waiting for running tasks: they are cut short and released. */
  readonly #shutdown = new AbortController();
  readonly #transactions = new TransactionTracker((ids) => this.#store.settleTransaction([], ids));
  readonly #executor: Executor;
  readonly #runner: Runner;

  constructor(options: TaskManagerOptions) {
    this.options = resolveOptions(options);
    this.#db = options.db;
    this.#store = this.options.dryRun
      ? memoryStore(dryRunTable(options.dryRun), this.options.clock)
      : sqlStore({ db: options.db!, table: this.options.table, clock: this.options.clock });
    const root = this.options.signal;
    const abortAll = () => {
      this.#stopping.abort();
      this.#shutdown.abort();
    };
    if (root) {
      if (root.aborted) abortAll();
      else root.addEventListener('abort', abortAll, { once: true });
    }
    this.#executor = new Executor({
      store: this.#store,
      registry: this.registry,
      options: this.options,
      slots: new Slots(this.options.concurrency),
      schedules: this.#schedules,
      stopping: this.#stopping.signal,
      abortRunning: this.#shutdown.signal,
    });
    this.#runner = new Runner(this.#executor, () => this.#shutdown.abort());
    for (const definition of options.tasks ?? []) this.register(definition);
    for (const schedule of options.schedules ?? []) this.schedule(schedule);
  }

  /**
   * Adds a recurring task: every `tick()` and the runner enqueue each of its slots once, across
   * all instances. Throws `GTA_INVALID_OPTION` for an invalid cron expression or time zone, an
   * unknown task or a second schedule with the same id.
   * @example
   * manager.schedule({ id: 'digest-eu', task: digest, cron: '0 9 * * 1-5', timezone: 'Europe/Paris' });
   */
  schedule<T extends TaskRef>(definition: ScheduleDefinition<T>): this {
    this.#schedules.add(definition as ScheduleDefinition);
    return this;
  }

  /**
   * Every schedule, by id: this manager's, and those the table holds that its code no longer
   * defines (`active: false`, fired by no instance running this code).
   */
  async listSchedules(): Promise<ScheduleInfo[]> {
    const stored = new Map((await this.#store.listSchedules()).map((row) => [row.id, row]));
    const now = clockNow(this.options);
    const ids = [...new Set([...this.#schedules.all().map((schedule) => schedule.id), ...stored.keys()])];
    return ids.sort().map((id) => scheduleInfo(this.#schedules.get(id), stored.get(id), now));
  }

  /** Pauses a schedule for every instance (stored in the table); false for an unknown id. */
  pauseSchedule(id: string): Promise<boolean> {
    return this.#setPaused(id, true);
  }

  /**
   * Resumes a paused schedule; it fires from its next slot on (the slots that passed while it was
   * paused do not fire). False for an unknown id.
   */
  resumeSchedule(id: string): Promise<boolean> {
    return this.#setPaused(id, false);
  }

  /**
   * Fires a schedule now, outside its cron: enqueues its task with its argument (the handler's
   * `ctx.scheduledFor` is now) and starts it as a plain enqueue does. Its slots are unaffected.
   * Throws `GTA_INVALID_ARGUMENT` for a schedule this manager does not define.
   */
  async triggerSchedule(id: string, options: { waitUntil?: WaitUntil } = {}): Promise<TaskId> {
    const schedule = this.#definedSchedule(id);
    const task = { ...(await this.#schedules.prepare(schedule, this.options)), scheduleId: schedule.id };
    const [inserted] = await this.#store.insertTasks([task], null, undefined, undefined);
    await this.#afterCommit([committedTask(inserted!.id, null, Date.now())], options.waitUntil);
    return inserted!.id;
  }

  async #setPaused(id: string, paused: boolean): Promise<boolean> {
    if (typeof id !== 'string') throw new GtaError(ERROR_CODES.invalidArgument, 'a schedule id is a string');
    const defined = this.#schedules.get(id);
    if (defined) {
      await this.#store.setSchedulePaused(identityOf(defined), paused);
      return true;
    }
    const stored = (await this.#store.listSchedules()).find((row) => row.id === id);
    if (!stored) return false;
    await this.#store.setSchedulePaused(stored, paused);
    return true;
  }

  #definedSchedule(id: string): Schedule {
    const schedule = typeof id === 'string' ? this.#schedules.get(id) : undefined;
    if (!schedule) {
      throw new GtaError(
        ERROR_CODES.invalidArgument,
        `no schedule ${JSON.stringify(id)} is defined in this manager's code`,
      );
    }
    return schedule;
  }

  /**
   * Adds a task definition; a different definition under an already registered key is refused.
   * Returns this manager typed with the definition, so that an enqueue by its key type-checks.
   */
  register<D extends AnyTaskDefinition>(definition: D): TaskManager<DB, Tasks | D> {
    this.registry.register(definition);
    return this as TaskManager<DB, Tasks | D>;
  }

  /** Creates or upgrades the task table (see {@link migrate}); nothing to do on a dry run. */
  migrate(): Promise<MigrateResult> {
    return this.#store.migrate();
  }

  /**
   * Enqueues one task and returns its id.
   *
   * - Without `tx` (GTA's `Run`), the task is committed on its own and started at once by the
   *   commit hook, through `waitUntil` when given, else awaited.
   * - With a transaction of {@link TaskManager.transaction}, the task can't run before that
   *   transaction commits, starts right after it, and vanishes on rollback.
   * - With any other transaction, it becomes visible at commit and a scanner (`tick`, the runner)
   *   runs it; on rollback it never existed.
   *
   * Throws `GTA_UNKNOWN_TASK_KEY`, `GTA_SCHEMA_REJECTED`, `GTA_NOT_SERIALIZABLE`,
   * `GTA_ARGUMENT_TOO_LARGE` or `GTA_INVALID_ARGUMENT` before writing anything.
   * @example
   * await manager.transaction(async (tx) => {
   *   const [user] = await tx.insert(users).values({ email }).returning();
   *   await manager.enqueue(sendWelcome, { userId: user.id }, { tx });
   * }, { waitUntil: ctx.waitUntil.bind(ctx) });
   */
  async enqueue<T extends TaskRefOf<Tasks>>(
    task: T,
    arg: ArgOf<T, Tasks>,
    options: EnqueueOptions = {},
  ): Promise<TaskId> {
    return (await this.#enqueueOne(task, arg, options)).id;
  }

  /**
   * Enqueues one task under a dedupe key, and says whether it created the task or found the one
   * holding the key (how long a task holds it: `dedupeFor`). Visibility, start and errors follow
   * {@link TaskManager.enqueue}; a task found is left as it is (its argument is not replaced).
   * @example
   * const { id, created } = await manager.enqueueOnce(sendReceipt, { orderId }, {
   *   dedupeKey: `receipt:${orderId}`,
   *   dedupeFor: 'unfinished',
   *   tx,
   * });
   */
  async enqueueOnce<T extends TaskRefOf<Tasks>>(
    task: T,
    arg: ArgOf<T, Tasks>,
    options: EnqueueOptions & { dedupeKey: string },
  ): Promise<EnqueueOnceResult> {
    if (typeof options !== 'object' || options === null || options.dedupeKey === undefined) {
      throw new GtaError(ERROR_CODES.invalidArgument, 'enqueueOnce needs a dedupeKey in its options');
    }
    return this.#enqueueOne(task, arg, options);
  }

  async #enqueueOne(task: TaskRef, arg: unknown, options: EnqueueOptions): Promise<EnqueueOnceResult> {
    assertOptionsObject(options);
    const definition = this.registry.resolve(task);
    const prepared = await prepareTask(definition, arg, options, this.options);
    const tracked = this.#trackedTransaction(options.tx);
    const claims = this.#claimBudget(tracked, options.tx, 1);
    const eligible = this.#executor.insertClaim(prepared);
    const claim = eligible && this.#takeClaims(claims, 1) > 0 ? eligible : null;
    const sentAt = Date.now();
    const { id, inserted, claimed } = await this.#store.insertTask(
      prepared,
      claim,
      options.tx,
      rootOf(tracked),
    );
    if (!claimed && claim) claims.left++;
    if (!inserted) return { id, created: false };
    const committed = committedTask(id, claimed, sentAt);
    if (tracked) tracked.tasks.push(committed);
    else if (!options.tx) await this.#afterCommit([committed], options.waitUntil);
    return { id, created: true };
  }

  /**
   * Enqueues many tasks of one definition in one statement and returns their ids in input order.
   * Visibility and start follow {@link TaskManager.enqueue}. Dedupe keys are per task, so they are
   * not accepted here.
   */
  async enqueueMany<T extends TaskRefOf<Tasks>>(
    task: T,
    args: ArgOf<T, Tasks>[],
    options: Omit<EnqueueOptions, 'dedupeKey' | 'dedupeFor'> = {},
  ): Promise<TaskId[]> {
    if (!Array.isArray(args))
      throw new GtaError(ERROR_CODES.invalidArgument, 'enqueueMany expects an array of arguments');
    assertOptionsObject(options);
    if ((options as EnqueueOptions).dedupeKey !== undefined) {
      throw new GtaError(
        ERROR_CODES.invalidArgument,
        'enqueueMany does not take a dedupeKey; enqueue one by one',
      );
    }
    const definition = this.registry.resolve(task);
    const prepared = await Promise.all(
      args.map((arg, index) =>
        prepareTask(definition, arg, options, this.options, { label: `arguments[${index}]` }),
      ),
    );
    const tracked = this.#trackedTransaction(options.tx);
    const claims = this.#claimBudget(tracked, options.tx, this.options.concurrency);
    const claim = prepared[0] && this.#executor.insertClaim(prepared[0]);
    const first = claim ? this.#takeClaims(claims, prepared.length) : 0;
    const sentAt = Date.now();
    const inserted = await this.#store.insertTasks(
      prepared,
      claim && first > 0 ? { ...claim, first } : null,
      options.tx,
      rootOf(tracked),
    );
    const tasks = inserted.map(({ id, claimed }) => committedTask(id, claimed, sentAt));
    if (tracked) tracked.tasks.push(...tasks);
    else if (!options.tx) await this.#afterCommit(tasks, options.waitUntil);
    return tasks.map((task) => task.id);
  }

  /**
   * The enqueue as a statement, for drivers without interactive transactions: pass it to
   * `db.execute` inside `db.batch([...])` next to your own writes, and the task commits with them.
   * A scanner starts it.
   * @example
   * await db.batch([db.insert(orders).values(order), db.execute(await manager.enqueueStatement(ship, { orderId }))]);
   */
  async enqueueStatement<T extends TaskRefOf<Tasks>>(
    task: T,
    arg: ArgOf<T, Tasks>,
    options: Omit<EnqueueOptions, 'tx' | 'waitUntil'> = {},
  ): Promise<SQL> {
    const definition = this.registry.resolve(task);
    const prepared = await prepareTask(definition, arg, options, this.options);
    if (prepared.dedupeFor !== 'stored') {
      throw new GtaError(
        ERROR_CODES.unsupported,
        "enqueueStatement keeps a dedupe key while its task is stored (dedupeFor 'stored'): releasing a key takes a statement of its own; enqueue in a transaction instead",
      );
    }
    return this.#store.insertTaskStatement(prepared);
  }

  /**
   * Runs `fn` in a database transaction. After it commits, the tasks enqueued in it start (the
   * commit hook) through `waitUntil`, or are awaited before this returns when none is given. After
   * a rollback nothing runs; a savepoint that rolls back drops the tasks enqueued inside it.
   */
  async transaction<R>(
    fn: (tx: TransactionOf<DB>) => Promise<R>,
    options: { waitUntil?: WaitUntil } = {},
  ): Promise<R> {
    let enqueued: TrackedTransaction | undefined;
    let aborted = false;
    const body = async (tx: any) => {
      // Its inserts claim up to a slot pool's worth of tasks for the commit hook; more would wait.
      enqueued = this.#transactions.track(tx, { left: this.options.concurrency });
      const result = await fn(tx);
      aborted = await this.#abortedUnseen(tx);
      return result;
    };
    const db = this.#db as TransactionalDatabase | undefined;
    let result: R;
    try {
      result =
        db && typeof db.transaction === 'function'
          ? await runTransaction(db, body)
          : await body(memoryTransaction() as TransactionOf<DB>);
    } catch (error) {
      if (enqueued) this.#store.settleTransaction([], [...taskIds(enqueued.tasks), ...enqueued.dropped]);
      // The body's own errors pass through untouched; a transaction that never opened is ours to explain.
      if (enqueued === undefined) throw transactionNotOpened(error);
      throw error;
    }
    const enqueuedTasks = enqueued?.tasks ?? [];
    const tasks = aborted ? [] : enqueuedTasks;
    this.#store.settleTransaction(taskIds(tasks), [
      ...(aborted ? taskIds(enqueuedTasks) : []),
      ...(enqueued?.dropped ?? []),
    ]);
    await this.#afterCommit(tasks, options.waitUntil, true);
    return result;
  }

  /** One bounded scanner step (for a cron trigger); see {@link TickOptions} and {@link TickReport}. */
  async tick(options: TickOptions = {}): Promise<TickReport> {
    return runTick(this.#executor, options);
  }

  /** Starts the long-lived runner (Node servers). Idempotent. */
  start(): void {
    if (this.#stopping.signal.aborted) {
      throw new GtaError(ERROR_CODES.managerStopped, 'this manager was stopped; create a new one');
    }
    this.#runner.start();
  }

  /**
   * Stops the runner and the manager. From the moment it is called, nothing more is claimed or
   * started, by any path (runner, tick, commit hook, nested tasks): tasks committed from then on
   * are written `initialized` and wait in the table for other instances, and tasks a claim in
   * flight returns are given back unstarted. With `wait` (the default), running tasks get up to
   * `waitTimeout` to finish; the rest are aborted and go back to `initialized` without counting
   * the attempt.
   */
  async stop(options: { wait?: boolean } = {}): Promise<void> {
    this.#stopping.abort();
    await this.#runner.stop(options);
    this.#shutdown.abort();
  }

  /** Moves the given tasks that are currently in `status` back to `initialized`, due now. */
  async forceRerunTasks(ids: TaskId[], status: TaskStatus): Promise<number> {
    assertIds(ids);
    assertStatus(status);
    return this.#store.forceRerunTasks(ids, status);
  }

  /**
   * Cancels a task, with `reason` as its last error. An `initialized` task is `cancelled` at once;
   * a `running` one gets a cancel request: within one heartbeat the invocation running it aborts
   * its `ctx.signal` (the reason says it was cancelled), and once its handler settled (or its lease
   * ran out) it is `cancelled`, whatever the handler returned; it keeps its sequence key and its slot
   * until then. Returns false for a task in neither state, or whose cancel was already asked for.
   */
  async cancelTask(id: TaskId, reason = 'cancelled by an operator'): Promise<boolean> {
    assertIds([id]);
    return (await this.#store.cancelTask(id, String(reason))) !== null;
  }

  /** Every task not `succeeded` (built-ins excluded), in a stable order: by id. */
  async queryUnsuccessfulTasks(page: { limit?: number; offset?: number } = {}): Promise<TaskRow[]> {
    const limit = pageLimit(page.limit);
    const offset = page.offset ?? 0;
    if (!Number.isInteger(offset) || offset < 0) {
      throw new GtaError(
        ERROR_CODES.invalidArgument,
        `offset must be a whole number ≥ 0, got ${String(offset)}`,
      );
    }
    return (await this.#store.queryUnsuccessfulTasks({ limit, offset })).map(toTaskRow);
  }

  /** One task, or null when there is none with this id. */
  async getTask(id: TaskId): Promise<TaskRow | null> {
    assertIds([id]);
    const row = await this.#store.getTask(id);
    return row && toTaskRow(row);
  }

  /** Tasks newest first, filtered by status, key, creation and update time, paged by `beforeId`. */
  async listTasks(filter: ListTasksFilter = {}): Promise<TaskRow[]> {
    const statuses = filter.status === undefined ? null : [filter.status].flat();
    for (const status of statuses ?? []) assertStatus(status);
    if (filter.beforeId !== undefined) assertIds([filter.beforeId]);
    if (
      filter.key !== undefined &&
      (typeof filter.key !== 'string' || filter.key.length > MAX_TASK_KEY_LENGTH)
    ) {
      throw new GtaError(
        ERROR_CODES.invalidArgument,
        `key must be a string of at most ${MAX_TASK_KEY_LENGTH} characters`,
      );
    }
    const query = {
      statuses,
      key: filter.key ?? null,
      createdAfter: timeFilter(filter.createdAfter, 'createdAfter'),
      createdBefore: timeFilter(filter.createdBefore, 'createdBefore'),
      updatedAfter: timeFilter(filter.updatedAfter, 'updatedAfter'),
      updatedBefore: timeFilter(filter.updatedBefore, 'updatedBefore'),
      beforeId: filter.beforeId ?? null,
      limit: pageLimit(filter.limit),
    };
    return (await this.#store.listTasks(query)).map(toTaskRow);
  }

  /** Counts per status and per key, and the age of the oldest due task. */
  async stats(): Promise<TaskStats> {
    const emptyCounts = () =>
      Object.fromEntries(TASK_STATES.map((s) => [s, 0])) as Record<TaskStatus, number>;
    const stored = await this.#store.taskStats();
    const stats: TaskStats = {
      byStatus: emptyCounts(),
      byKey: {},
      oldestInitializedAgeMs: stored.oldestInitializedAgeMs,
    };
    for (const { task_key, status, count } of stored.counts) {
      if (!isTaskStatus(status)) continue;
      stats.byStatus[status] += count;
      stats.byKey[task_key] ??= emptyCounts();
      stats.byKey[task_key][status] += count;
    }
    return stats;
  }

  /**
   * Abnormal tasks by the maintenance check's definition: due longer than `initializedTimeout`,
   * running longer than `runningTimeout`, and failed within `storageTimeout`; at most `limit` of each.
   */
  async abnormalTasks({ limit = DEFAULT_LIST_LIMIT }: { limit?: number } = {}): Promise<AbnormalTask[]> {
    const rowsPerReason = pageLimit(limit);
    const found = await this.#store.findAbnormalTasks({
      initializedTimeout: this.options.initializedTimeout,
      runningTimeout: this.options.runningTimeout,
      storageTimeout: this.options.storageTimeout,
      round: null,
      failedAfter: null,
      tickWindow: null,
      limit: rowsPerReason,
    });
    return found.map(({ reason, row }) => ({ reason, task: toTaskRow(row) }));
  }

  /** Tasks finished per minute over the last `minutes` (1 to 1440), oldest first; idle minutes left out. */
  async throughput({ minutes = 15 }: { minutes?: number } = {}): Promise<ThroughputPoint[]> {
    if (!Number.isInteger(minutes) || minutes < 1 || minutes > 1440) {
      throw new GtaError(
        ERROR_CODES.invalidArgument,
        `minutes must be a whole number from 1 to 1440, got ${minutes}`,
      );
    }
    const rows = await this.#store.taskThroughput(minutes);
    return rows.map((row) => ({
      minute: new Date(row.minute).toISOString(),
      succeeded: row.succeeded,
      failed: row.failed,
    }));
  }

  /** Starts committed tasks: through `waitUntil` when there is one, else awaited. Never rejects. */
  async #afterCommit(
    tasks: CommittedTask[],
    waitUntil: WaitUntil | undefined,
    fromTransaction = false,
  ): Promise<void> {
    if (tasks.length === 0) return;
    const ids = taskIds(tasks);
    const work = this.#executor.runCommitted(
      tasks,
      new Scope(Number.POSITIVE_INFINITY, undefined),
      fromTransaction,
    );
    const safe = work.catch((error: unknown) => {
      this.options.logger.error({ taskIds: ids, error: describeThrown(error) }, 'commit hook failed');
    });
    const handOff = waitUntil ?? this.options.waitUntil;
    if (handOff) handOff(safe);
    else await safe;
  }

  /**
   * How many tasks an enqueue's insert may claim for the commit hook: its transaction's budget, none
   * in a foreign transaction (no commit hook starts them), `alone` for an insert that is its own commit.
   */
  #claimBudget(tracked: TrackedTransaction | undefined, tx: unknown, alone: number): ClaimBudget {
    if (tracked) return tracked.claims;
    return { left: tx ? 0 : alone };
  }

  /** Takes up to `wanted` claims from `claims`; returns how many it took. */
  #takeClaims(claims: ClaimBudget, wanted: number): number {
    const taken = Math.max(0, Math.min(claims.left, wanted));
    claims.left -= taken;
    return taken;
  }

  /**
   * Whether the database transaction `tx` is aborted, so that its COMMIT will roll back without an
   * error (node-postgres reports none when the caller swallowed a failed statement), asked of a
   * database only when the store keeps the transaction's tasks itself (a dry run given a `db`):
   * the task table in the database proves a commit by reading its tasks back after it.
   */
  async #abortedUnseen(tx: SqlExecutor): Promise<boolean> {
    if (this.#store.sharesTransactions || !this.#db) return false;
    try {
      await tx.execute(sql`select 1`);
      return false;
    } catch {
      return true;
    }
  }

  /**
   * The record of `tx` when `manager.transaction` opened it. A store outside the database (a dry
   * run) cannot take tasks in any other transaction: it would never learn whether they commit.
   */
  #trackedTransaction(tx: SqlExecutor | undefined): TrackedTransaction | undefined {
    if (tx === undefined) return undefined;
    const tracked = this.#transactions.enqueuedIn(tx);
    if (!tracked && !this.#store.sharesTransactions) {
      throw new GtaError(
        ERROR_CODES.unsupported,
        'a dryRun manager cannot tell whether a transaction it did not open commits: enqueue inside manager.transaction, or without tx',
      );
    }
    return tracked;
  }
}

function identityOf(schedule: Schedule) {
  return {
    id: schedule.id,
    taskKey: schedule.definition.key,
    cron: schedule.cron,
    timezone: schedule.timezone,
  };
}

/** The table a `dryRun` option names: the one given, or a new one of the manager's own. */
function dryRunTable(dryRun: boolean | MemoryTaskTable | undefined): MemoryTaskTable {
  return typeof dryRun === 'object' ? dryRun : memoryTaskTable();
}

/** The outermost transaction of a tracked one (itself, or the transaction its savepoint is in). */
function rootOf(tracked: TrackedTransaction | undefined): TrackedTransaction | undefined {
  return tracked?.root ?? tracked;
}

function taskIds(tasks: CommittedTask[]): TaskId[] {
  return tasks.map((task) => task.id);
}

/**
 * Creates a task manager.
 * @example
 * const manager = createTaskManager({ db, tasks: [sendWelcome] });
 * await manager.migrate();
 */
export function createTaskManager<
  DB extends SqlExecutor = SqlExecutor,
  Tasks extends AnyTaskDefinition = AnyTaskDefinition,
>(
  options: Omit<TaskManagerOptions, 'db' | 'tasks'> & { db?: DB; tasks?: readonly Tasks[] },
): TaskManager<DB, Tasks> {
  return new TaskManager<DB, Tasks>(options);
}

function assertIds(ids: unknown): asserts ids is TaskId[] {
  if (!Array.isArray(ids) || ids.length > MAX_IDS_PER_CALL) {
    throw new GtaError(
      ERROR_CODES.invalidArgument,
      `expected an array of at most ${MAX_IDS_PER_CALL} task ids`,
    );
  }
  for (const id of ids) {
    if (!Number.isSafeInteger(id) || (id as number) < 1) {
      throw new GtaError(
        ERROR_CODES.invalidArgument,
        `a task id is a whole number ≥ 1, got ${JSON.stringify(id)}`,
      );
    }
  }
}

function assertStatus(status: unknown): asserts status is TaskStatus {
  if (!isTaskStatus(status)) {
    throw new GtaError(
      ERROR_CODES.invalidArgument,
      `unknown status ${JSON.stringify(status)}; expected one of ${TASK_STATES.join(', ')}`,
    );
  }
}

function pageLimit(limit: number | undefined): number {
  const value = limit ?? DEFAULT_LIST_LIMIT;
  if (!Number.isInteger(value) || value < 1 || value > MAX_LIST_LIMIT) {
    throw new GtaError(
      ERROR_CODES.invalidArgument,
      `limit must be a whole number from 1 to ${MAX_LIST_LIMIT}`,
    );
  }
  return value;
}

/** A committed task for the commit hook; one its insert claimed may start until a wait allowance after that insert. */
function committedTask(id: TaskId, claimed: SelectedRow | null, insertSentAt: number): CommittedTask {
  return { id, claimed: claimed ? { row: claimed, startBy: insertSentAt + QUEUE_WAIT_MS } : null };
}

/** Why `db.transaction` failed before running the body: a driver without transactions, or a fault. */
function transactionNotOpened(error: unknown): GtaError {
  const message = error instanceof Error ? error.message : String(error);
  if (/no transactions? support/i.test(message)) {
    return new GtaError(
      ERROR_CODES.unsupported,
      'this driver has no interactive transactions (neon-http): put db.execute(await manager.enqueueStatement(...)) in db.batch([...]) beside your writes',
      { cause: error },
    );
  }
  return new GtaError(ERROR_CODES.storage, `could not open a transaction: ${message}`, { cause: error });
}

function timeFilter(value: Date | string | undefined, name: string): string | null {
  if (value === undefined) return null;
  const date = value instanceof Date ? value : new Date(value);
  if (Number.isNaN(date.getTime()))
    throw new GtaError(ERROR_CODES.invalidArgument, `${name} is not a valid time`);
  return date.toISOString();
}
