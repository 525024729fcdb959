/**
 * Runs claimed tasks and records their outcome. Nothing here throws: a corrupt row, a handler
 * that misbehaves or a storage failure ends as a recorded outcome or a log entry, and a task whose
 * result could not be written stays `running` until its lease expires and a scanner rescues it.
 * @module
 */
import {
  ABORT_GRACE_MS,
  type AbortCause,
  type AttemptResult,
  type PrepareChild,
  runAttempt,
} from './attempt.js';
import { Batcher, type PendingStart } from './batcher.js';
import { describeThrown, firstLine } from './errors.js';
import { Heartbeat, LEASE_HEARTBEATS } from './heartbeat.js';
import { HookCaller } from './hooks.js';
import type { Logger } from './logger.js';
import type { ResolvedOptions } from './options.js';
import { marshalerFor, prepareTask, restoreContext, type TaskRegistry, validateArgument } from './prepare.js';
import type { ScheduleBook } from './schedules.js';
import { AbortFanout } from './signals.js';
import type { Outcome, QueuedTask, Scope, Slots } from './slots.js';
import {
  type Claimed,
  type ClaimOptions,
  type InsertClaim,
  type LeaseRef,
  leaseKey,
  moreMayBeDue,
  type NewTask,
  type SelectedRow,
  type StartedLease,
  type TaskStore,
} from './storage/index.js';
import { controlSignalOf, retryDelay, type TaskDefinition } from './task.js';
import type { CommittedTask } from './transactions.js';
import type { TaskId, TaskRow } from './types.js';
import { WorkInProgress } from './work.js';

/** What the executor needs of a claimed row to record and log its outcome. */
type AttemptOf = Pick<TaskRow, 'id' | 'key' | 'attempts' | 'maxAttempts'>;

/**
 * A started task's attempt: the handler's result (its handler started at `startedAt`, epoch ms),
 * why it could not be called, or that it must not start after all (its start could not be
 * recorded first, or the manager began to stop meanwhile).
 */
type Ran =
  | {
      kind: 'ran';
      definition: TaskDefinition<any, any, any>;
      result: AttemptResult;
      startedAt: number;
      /** The start record waiting to be written, if the attempt's start was not recorded yet. */
      start: PendingStart | undefined;
    }
  | { kind: 'unrunnable'; error: string }
  | { kind: 'not started'; release: boolean };

interface Recorded {
  outcome: Outcome;
  /** The nested tasks inserted with the success, in submission order. */
  childIds: TaskId[];
  /** Why a failure failed (as stored) or a cancel cancelled, for the hooks. */
  detail?: string | null;
}

const NO_CHILDREN: TaskId[] = [];

/** What a claim round of {@link Executor.claimAndStart} did: tasks claimed, and whether more may be due. */
export interface ClaimRound {
  claimed: number;
  more: boolean;
}

const NO_ROUND: ClaimRound = Object.freeze({ claimed: 0, more: false });

const RELEASED_BY_STOP = 'released unfinished by a stopping manager; the attempt is not counted';
const RELEASED_AT_DEADLINE =
  'attempt aborted: the invocation reached its deadline; released without counting the attempt';

function recorded(outcome: Outcome): Recorded {
  return { outcome, childIds: NO_CHILDREN };
}

export interface ExecutorDeps {
  store: TaskStore;
  registry: TaskRegistry;
  options: ResolvedOptions;
  slots: Slots;
  schedules: ScheduleBook;
  /** Aborts when the manager's stop begins: from then on nothing is claimed or started. */
  stopping: AbortSignal;
  /** Aborts when running attempts are to be cut short; they are released back to `initialized`. */
  abortRunning: AbortSignal;
}

/**
 * How long a task claimed ahead may wait for a slot. Its lease is longer by this much, so it still
 * starts with its full timeout plus `leaseMargin` ahead; past it, the task is released unstarted.
 */
export const QUEUE_WAIT_MS = 1000;

export class Executor {
  /** Every started task until its outcome is written, and every release. */
  readonly #work = new WorkInProgress();
  readonly #stop: AbortFanout;
  readonly #batcher: Batcher;
  readonly #heartbeat: Heartbeat;
  readonly #hooks: HookCaller;

  /** {@link Executor.#startQueued} for a scope's recheck timer, made once rather than per call. */
  readonly #recheckQueue = (scope: Scope) => this.#startQueued(scope);
  readonly #prepareChild: PrepareChild = (child, arg, options, parentId) =>
    prepareTask(this.deps.registry.resolve(child), arg, options ?? {}, this.deps.options, { parentId });

  constructor(readonly deps: ExecutorDeps) {
    this.#hooks = new HookCaller(deps.options.hooks, deps.options.logger);
    this.#stop = new AbortFanout(deps.abortRunning, { kind: 'stop' });
    this.#batcher = new Batcher(deps.store);
    const { heartbeatInterval, leaseMargin } = deps.options;
    this.#heartbeat = new Heartbeat(
      heartbeatInterval,
      (leases) => this.#batcher.renew(leases, LEASE_HEARTBEATS * heartbeatInterval + leaseMargin),
      deps.options.logger,
    );
  }

  get logger(): Logger {
    return this.deps.options.logger;
  }

  /** Settles once every task this executor started has finished. */
  idle(): Promise<void> {
    return this.#work.idle();
  }

  /** Whether `scope` may start nothing more: the manager stops, or the scope's signal aborted. */
  #halted(scope: Scope): boolean {
    return this.deps.stopping.aborted || scope.signal?.aborted === true;
  }

  /** How many more tasks `scope` may start now. */
  capacity(scope: Scope): number {
    if (this.#halted(scope)) return 0;
    return Math.min(this.deps.slots.free(), scope.free());
  }

  /**
   * Claims up to `limit` due tasks (or only `ids`), by default the free capacity, and starts them
   * in `scope`. Tasks claimed beyond the capacity wait in the scope's queue and start as its
   * handlers free their slots; only a scope that has handlers running may queue.
   *
   * The slots the first tasks start in are reserved before the claim is sent, so that a commit
   * hook or another claim cannot take them meanwhile; tasks the claim returns after the manager
   * began to stop (or the scope's signal aborted) are given back unstarted. A task whose timeout
   * would outlast the scope's invocation is not claimed.
   */
  async claimAndStart(scope: Scope, ids?: TaskId[], limit?: number): Promise<ClaimRound> {
    const capacity = this.capacity(scope);
    const wanted = scope.running > 0 || capacity > 0 ? (limit ?? capacity) : 0;
    const count = Math.min(wanted, ids?.length ?? Number.POSITIVE_INFINITY);
    if (count <= 0) return NO_ROUND;
    const claimedAt = Date.now();
    const queues = count > capacity;
    const maxTimeoutMs = scope.endsAt - claimedAt - (queues ? QUEUE_WAIT_MS : 0);
    if (maxTimeoutMs <= 0) return NO_ROUND;
    const reserved = Math.min(count, capacity);
    const options: ClaimOptions = {
      limit: count,
      keys: this.deps.registry.keys(),
      limits: this.deps.registry.limits(),
      ...(ids ? { ids } : {}),
      leaseMargin: this.deps.options.leaseMargin,
      ...(queues ? { queueAllowance: QUEUE_WAIT_MS } : {}),
      initializedTimeout: this.deps.options.initializedTimeout,
      ...(Number.isFinite(maxTimeoutMs) ? { maxTimeoutMs } : {}),
      heartbeatLeaseMs: this.#heartbeatLeaseMs,
      // Only as many rate-limited tasks as start at once, and they go first.
      rateLimitedMax: reserved,
    };
    this.#reserve(scope, reserved);
    let claimed: Claimed;
    try {
      // A scanner's claim rides with the writes waiting to be sent; the commit hook claims its
      // own tasks at once.
      claimed = ids ? await this.deps.store.claimTasks(options) : await this.#batcher.claim(options);
    } catch (error) {
      this.#unreserve(scope, reserved);
      throw error;
    }
    let rows = claimed.rows;
    scope.noteClaimed(rows);
    if (this.#halted(scope)) {
      this.#unreserve(scope, reserved);
      this.#releaseQueued(
        rows.map((row) => ({ row, startBy: claimedAt })),
        scope,
      );
      return NO_ROUND;
    }
    const more = moreMayBeDue(claimed, count);
    rows = rateLimitedFirst(this.#fitting(rows, scope, reserved));
    const startingNow = Math.min(reserved, rows.length);
    for (let index = 0; index < startingNow; index++) this.start(rows[index]!, scope, true);
    this.#unreserve(scope, reserved - startingNow);
    if (rows.length > startingNow) {
      for (const row of rows.slice(startingNow))
        scope.queue.push({ row, startBy: claimedAt + QUEUE_WAIT_MS });
      this.#startQueued(scope);
    }
    return { claimed: rows.length, more };
  }

  /**
   * The claimed rows whose timeout still fits before the scope's invocation ends, now that the
   * claim came back (it may have waited for the batcher or a pooled connection); the others are
   * given back unstarted. Those beyond `startingNow` wait in the queue first.
   */
  #fitting(rows: SelectedRow[], scope: Scope, startingNow: number): SelectedRow[] {
    if (!Number.isFinite(scope.endsAt)) return rows;
    const left = scope.endsAt - Date.now();
    const fits = (row: SelectedRow, index: number) =>
      Number(row.timeout_ms) <= left - (index < startingNow ? 0 : QUEUE_WAIT_MS);
    if (rows.every(fits)) return rows;
    const late = rows.filter((row, index) => !fits(row, index));
    this.#releaseQueued(
      late.map((row) => ({ row, startBy: 0 })),
      scope,
    );
    return rows.filter(fits);
  }

  #reserve(scope: Scope, count: number): void {
    this.deps.slots.reserve(count);
    scope.reserve(count);
  }

  #unreserve(scope: Scope, count: number): void {
    this.deps.slots.unreserve(count);
    scope.unreserve(count);
  }

  /**
   * How the insert of `task` claims it for the commit hook, or null when it must not: it is not
   * due yet, waits for its sequence, has a group limit (which only a claim applies), no slot is
   * free, or the manager stops. Its lease covers a
   * wait of up to {@link QUEUE_WAIT_MS} from the insert to the handler's start (the rest of the
   * caller's transaction, its COMMIT, a free slot).
   */
  insertClaim(task: NewTask): InsertClaim | null {
    const dueNow = task.runAt === null && task.delayMs <= 0;
    const limited = task.concurrencyKey !== null || task.rateKey !== null;
    if (!dueNow || task.sequenceKey !== null || limited || this.deps.stopping.aborted) return null;
    // With every slot taken the claim would only be released again.
    if (this.deps.slots.free() === 0 || !this.deps.registry.get(task.key)) return null;
    return {
      leaseMs: this.deps.options.leaseMargin + QUEUE_WAIT_MS,
      heartbeatLeaseMs: this.#heartbeatLeaseMs,
    };
  }

  /** The most of a task's timeout a lease covers; the heartbeats renew it beyond. */
  get #heartbeatLeaseMs(): number {
    return LEASE_HEARTBEATS * this.deps.options.heartbeatInterval;
  }

  /**
   * The commit hook's work: starts the given committed tasks in submission order (those their
   * insert claimed first), as far as the concurrency cap allows (the rest wait for a scanner), and
   * settles when they all finished. Once the manager began to stop, it starts none: those their
   * insert claimed are given back at once.
   *
   * Tasks their insert claimed need no claim. Those of a transaction (`confirm`) are first read
   * back, which proves the transaction committed them: a COMMIT can roll back without an error.
   * Those whose wait outlasted their lease allowance are released and claimed again.
   */
  async runCommitted(tasks: CommittedTask[], scope: Scope, confirm: boolean): Promise<void> {
    // Counted as work, so that a stop waits until what it gives back is written.
    this.#work.begin();
    try {
      await this.#runCommitted(tasks, scope, confirm);
    } finally {
      this.#work.end();
    }
  }

  async #runCommitted(tasks: CommittedTask[], scope: Scope, confirm: boolean): Promise<void> {
    const now = Date.now();
    const toClaim: TaskId[] = [];
    const late: QueuedTask[] = [];
    let ready: QueuedTask[] = [];
    const stopping = this.deps.stopping.aborted;
    for (const task of [...tasks].sort((a, b) => a.id - b.id)) {
      if (!task.claimed) toClaim.push(task.id);
      else if (task.claimed.startBy > now && !stopping) ready.push(task.claimed);
      else late.push(task.claimed);
    }
    if (stopping) {
      await this.#releaseQuietly(late);
      return;
    }
    if (confirm && ready.length > 0) ready = await this.#confirm(ready);
    scope.queue.push(...ready);
    this.#startQueued(scope);
    // With no handler of this scope running, nothing would start the rest as slots free up.
    if (scope.running === 0) {
      late.push(...scope.queue.splice(0));
      scope.cancelQueueRecheck();
    }
    if (late.length > 0 && (await this.#releaseQuietly(late))) {
      toClaim.push(...late.map(({ row }) => Number(row.id)));
    }
    if (toClaim.length > 0)
      await this.#startQuietly(
        toClaim.sort((a, b) => a - b),
        scope,
      );
    await scope.settled();
  }

  /**
   * The tasks of `claimed` (in id order) that their transaction did commit. When that cannot be
   * read they are released, for a scanner to find if they exist.
   */
  async #confirm(claimed: QueuedTask[]): Promise<QueuedTask[]> {
    const leases = claimed.map(({ row }) => ({ id: Number(row.id), leaseToken: row.lease_token! }));
    let confirmed: Set<string>;
    try {
      confirmed = await this.deps.store.confirmClaims(leases);
    } catch (error) {
      this.logger.error(
        { taskIds: leases.map((lease) => lease.id), error: describeThrown(error) },
        'could not confirm committed tasks; they are released for a scanner',
      );
      await this.#releaseQuietly(claimed);
      return [];
    }
    return claimed.filter((_queued, index) => confirmed.has(leaseKey(leases[index]!)));
  }

  /** Starts `row` in `scope`, in a slot its claim reserved when `reserved`. */
  start(row: SelectedRow, scope: Scope, reserved = false): void {
    this.deps.slots.take(reserved);
    scope.handlerStarted(reserved);
    scope.counts.claimed++;
    this.#work.begin();
    scope.workBegun();
    void this.#run(row, scope);
  }

  /**
   * A started task from its attempt to its recorded outcome; never rejects. Its slot frees once
   * the handler settles, so the next task starts while this outcome is still being written (and
   * may share that statement with others).
   */
  async #run(row: SelectedRow, scope: Scope): Promise<void> {
    const task: AttemptOf = {
      id: Number(row.id),
      key: row.task_key,
      attempts: Number(row.attempts),
      maxAttempts: Number(row.max_attempts),
    };
    let holdsSlot = true;
    let childIds = NO_CHILDREN;
    try {
      const lease = { id: task.id, leaseToken: row.lease_token! };
      const ran = await this.#attempt(row, task, lease, scope);
      const ranMs = ran.kind === 'ran' ? Date.now() - ran.startedAt : 0;
      holdsSlot = false;
      this.#freeSlot(scope);
      const result = await this.#record(lease, task, ran);
      scope.record(result.outcome);
      childIds = result.childIds;
      if (this.#hooks.any) this.#afterOutcome(row, result, ranMs, scope);
    } catch (error) {
      this.logger.error(
        { taskId: task.id, error: describeThrown(error) },
        'task outcome could not be recorded; its lease will expire and a scanner will rescue it',
      );
    } finally {
      if (holdsSlot) this.#freeSlot(scope);
    }
    try {
      // Children start once the parent's outcome is written, in submission order.
      if (childIds.length > 0) await this.#startQuietly(childIds, scope);
    } finally {
      this.#work.end();
      scope.workEnded();
    }
  }

  /** Tells the hooks how an attempt ended, once its outcome is written. */
  #afterOutcome(row: SelectedRow, result: Recorded, ranMs: number, scope: Scope): void {
    const keep = (work: Promise<void>) => this.#keep(work, scope);
    const { outcome, detail = null } = result;
    if (outcome === 'succeeded') this.#hooks.ended(row, { outcome }, ranMs, keep);
    else if (outcome === 'retried' || outcome === 'failed')
      this.#hooks.ended(row, { outcome, error: detail ?? '' }, ranMs, keep);
    else if (outcome === 'cancelled') this.#hooks.ended(row, { outcome, reason: detail }, ranMs, keep);
  }

  #freeSlot(scope: Scope): void {
    this.deps.slots.release();
    scope.handlerFinished();
    this.#startQueued(scope);
  }

  /** Keeps `work` (which never rejects) alive for `idle()` and for the scope's invocation. */
  #keep(work: Promise<void>, scope: Scope): void {
    this.#work.track(work);
    scope.track(work);
  }

  /**
   * Starts queued tasks in the slots `scope` may use now. Those that can no longer start (the
   * scope's budget is spent or its signal aborted, the manager stops, or they waited longer than
   * their lease allows) are released unstarted: their attempt is not counted.
   */
  #startQueued(scope: Scope): void {
    let unstartable: QueuedTask[] | undefined;
    const now = Date.now();
    const stopping = this.#halted(scope) || now >= scope.startUntil;
    while (scope.queue.length > 0) {
      const next = scope.queue[0]!;
      if (stopping || now >= next.startBy) {
        unstartable ??= [];
        unstartable.push(scope.queue.shift()!);
        continue;
      }
      if (this.capacity(scope) === 0) break;
      scope.queue.shift();
      this.start(next.row, scope);
    }
    if (unstartable) this.#releaseQueued(unstartable, scope);
    // A queue stalled behind slow handlers is still released in time.
    const head = scope.queue[0];
    if (head) scope.recheckQueueAt(Math.min(head.startBy, scope.startUntil), this.#recheckQueue);
    else scope.cancelQueueRecheck();
  }

  /** Gives back, in the background of `scope`, tasks claimed ahead that will not start. */
  #releaseQueued(queued: QueuedTask[], scope: Scope): void {
    this.#keep(
      this.#releaseQuietly(queued).then(() => {}),
      scope,
    );
  }

  /** Releases tasks claimed ahead that never started; false (logged) when that failed. */
  async #releaseQuietly(queued: QueuedTask[]): Promise<boolean> {
    const leases = queued.map(({ row }) => ({ id: Number(row.id), leaseToken: row.lease_token! }));
    try {
      await this.deps.store.releaseUnstarted(leases);
      return true;
    } catch (error) {
      this.logger.error(
        { taskIds: leases.map((lease) => lease.id), error: describeThrown(error) },
        'could not release tasks claimed ahead; their leases will expire and a scanner will rescue them',
      );
      return false;
    }
  }

  async #startQuietly(ids: TaskId[], scope: Scope): Promise<void> {
    try {
      await this.claimAndStart(scope, ids);
    } catch (error) {
      this.logger.error(
        { taskIds: ids, error: describeThrown(error) },
        'could not start tasks; a scanner will run them',
      );
    }
  }

  /**
   * Calls the handler of `row` once; or says why it cannot be called.
   *
   * The start of the attempt is recorded after the handler started (with the next batched
   * statement, or with its outcome), never before: a claim whose handler never started, because
   * its invocation ended first, is then given back by the lease rescue instead of counted. A task
   * that already lost a lease that way is started only once its start is written, so that a handler
   * that ends its invocation at once cannot run for ever uncounted.
   */
  async #attempt(row: SelectedRow, task: AttemptOf, lease: LeaseRef, scope: Scope): Promise<Ran> {
    const definition = this.deps.registry.get(task.key);
    if (!definition) return { kind: 'unrunnable', error: `no task registered as ${task.key}` };
    let context: unknown;
    let arg: unknown;
    try {
      context = restoreContext(row.context, marshalerFor(definition, this.deps.options));
    } catch (error) {
      return { kind: 'unrunnable', error: `stored context could not be restored: ${describeThrown(error)}` };
    }
    try {
      // The argument column is jsonb, so its text always parses; without a schema there is
      // nothing to wait for.
      arg = JSON.parse(row.arg);
      if (definition.schema) arg = await validateArgument(definition, arg);
    } catch (error) {
      return { kind: 'unrunnable', error: `stored argument is invalid: ${describeThrown(error)}` };
    }
    const startedAt = Date.now();
    const unrecorded = row.started_at === null;
    const strict = unrecorded && Number(row.unstarted_expiries) > 0;
    if (strict) {
      if (this.#halted(scope)) return { kind: 'not started', release: true };
      const recorded = await this.#recordStartFirst(lease, startedAt);
      if (recorded !== 'recorded') return { kind: 'not started', release: recorded === 'unknown' };
    }
    // Nothing starts once the manager began to stop (or the invocation's deadline came), however
    // long the awaits above took (an asynchronous schema, the start record).
    if (this.#halted(scope)) return { kind: 'not started', release: true };
    const start =
      unrecorded && !strict ? this.#batcher.started(lease.id, lease.leaseToken, startedAt) : undefined;
    // The handler starts within this call, after the current synchronous work: the hook with it.
    const attempt = runAttempt({
      definition,
      row,
      arg,
      context,
      logger: this.logger,
      deadline: scope.deadline,
      stop: this.#stop,
      prepareChild: this.#prepareChild,
      abortGraceMs: Math.min(ABORT_GRACE_MS, this.deps.options.leaseMargin / 2),
      beat: { heartbeat: this.#heartbeat, lease },
    });
    if (this.#hooks.any) this.#hooks.started(row, (work) => this.#keep(work, scope));
    return { kind: 'ran', definition, result: await attempt, startedAt, start };
  }

  /**
   * Writes the start of a strict attempt before its handler is called: `recorded`, `lost` (its
   * lease was lost), or `unknown` when the statement failed, which may still have committed the
   * start (its answer lost with the connection). An unknown start must be given back rather than
   * left to the lease rescue, which would count the attempt whose handler never ran.
   */
  async #recordStartFirst(lease: LeaseRef, startedAt: number): Promise<'recorded' | 'lost' | 'unknown'> {
    try {
      return (await this.#batcher.recordStart({ ...lease, startedAt })) ? 'recorded' : 'lost';
    } catch (error) {
      this.logger.warn(
        { taskId: lease.id, error: describeThrown(error) },
        'could not record the start of an attempt; the task is given back unstarted',
      );
      return 'unknown';
    }
  }

  /** Writes the outcome of an attempt. */
  async #record(lease: LeaseRef, task: AttemptOf, ran: Ran): Promise<Recorded> {
    if (ran.kind === 'unrunnable') {
      const outcome = await this.#fail({ ...lease, startedAgoMs: 0 }, task, ran.error, null);
      return { ...recorded(outcome), detail: ran.error };
    }
    if (ran.kind === 'not started') {
      if (!ran.release) return recorded(this.#lost(task));
      const released = await this.deps.store.releaseUnstarted([lease]);
      return recorded(released > 0 ? 'released' : this.#lost(task));
    }
    const { definition, result, startedAt, start } = ran;
    const startedAgoMs = Math.max(0, Date.now() - startedAt);
    if (!result.ok) {
      const started = { id: lease.id, leaseToken: lease.leaseToken, startedAgoMs };
      return this.#afterFailure(started, task, definition, result.thrown, result.aborted);
    }
    const { children } = result;
    // A success without children joins the group-committed batch; children need their own
    // statement, as they are inserted in the same statement as the parent's success.
    if (children.length === 0) {
      const ending = await this.#batcher.complete(
        { id: lease.id, leaseToken: lease.leaseToken, deleteRow: definition.cleanSucceeded, startedAt },
        start,
      );
      return recorded(ending === false ? this.#lost(task) : this.#ended(task, ending));
    }
    const written = await this.deps.store.completeTask(
      { id: lease.id, leaseToken: lease.leaseToken, startedAgoMs },
      {
        deleteRow: definition.cleanSucceeded,
        children,
      },
    );
    if (written === null) return recorded(this.#lost(task));
    return { outcome: this.#ended(task, written.ending), childIds: written.childIds };
  }

  /** The outcome of a success: a cancel requested while it ran makes it `cancelled` (logged). */
  #ended(task: AttemptOf, ending: 'succeeded' | 'cancelled'): Outcome {
    if (ending === 'cancelled') {
      this.logger.info({ taskId: task.id, taskKey: task.key }, 'task cancelled; its result is discarded');
    }
    return ending;
  }

  async #afterFailure(
    lease: StartedLease,
    task: AttemptOf,
    definition: TaskDefinition<any, any, any>,
    thrown: unknown,
    aborted: AbortCause | null,
  ): Promise<Recorded> {
    // Cut short by the manager's stop or the invocation's deadline: no fault of the task's, so
    // the attempt is given back.
    if (aborted?.kind === 'stop') return recorded(await this.#release(lease, task, RELEASED_BY_STOP));
    if (aborted?.kind === 'deadline') return recorded(await this.#release(lease, task, RELEASED_AT_DEADLINE));
    if (aborted?.kind === 'lease lost') return recorded(this.#lost(task));
    const signal = controlSignalOf(thrown);
    const cancelReason =
      aborted?.kind === 'cancel' ? aborted.reason : signal?.kind === 'cancel' ? signal.reason : null;
    if (cancelReason !== null) {
      return { ...recorded(await this.#cancel(lease, task, cancelReason)), detail: cancelReason };
    }
    const reason = `attempt ${task.attempts}: ${describeThrown(thrown)}`;
    const delayMs =
      signal?.kind === 'fail' || task.attempts >= task.maxAttempts
        ? null
        : signal?.kind === 'retry-after'
          ? signal.delayMs
          : retryDelay(definition, task.attempts);
    return { ...recorded(await this.#fail(lease, task, reason, delayMs)), detail: reason };
  }

  async #release(lease: StartedLease, task: AttemptOf, reason: string): Promise<Outcome> {
    const status = await this.deps.store.releaseTask(lease, reason);
    if (status === null) return this.#lost(task);
    return status === 'cancelled' ? this.#ended(task, 'cancelled') : 'released';
  }

  /** Transition "cancel": an operator's cancel delivered to the handler, or CancelTask thrown. */
  async #cancel(lease: StartedLease, task: AttemptOf, reason: string): Promise<Outcome> {
    if (!(await this.deps.store.cancelRunning(lease, reason))) return this.#lost(task);
    this.logger.info({ taskId: task.id, taskKey: task.key, reason }, 'task cancelled');
    return 'cancelled';
  }

  async #fail(
    lease: StartedLease,
    task: AttemptOf,
    error: string,
    retryDelayMs: number | null,
  ): Promise<Outcome> {
    const status = await this.deps.store.failTask(lease, { error, retryDelayMs });
    if (status === null) return this.#lost(task);
    if (status === 'cancelled') return this.#ended(task, 'cancelled');
    const fields = { taskId: task.id, taskKey: task.key, attempt: task.attempts, error: firstLine(error) };
    if (status === 'failed') this.logger.warn(fields, 'task failed');
    else this.logger.info({ ...fields, retryInMs: retryDelayMs }, 'task will retry');
    return status === 'failed' ? 'failed' : 'retried';
  }

  #lost(task: AttemptOf): Outcome {
    this.logger.warn(
      { taskId: task.id, taskKey: task.key, attempt: task.attempts },
      'lease lost before the result was written (expired and rescued, or rerun); the result is discarded',
    );
    return 'lost';
  }
}

/** `rows` with the rate-limited ones first, each part in claim order. */
function rateLimitedFirst(rows: SelectedRow[]): SelectedRow[] {
  if (!rows.some((row) => row.rate_key !== null)) return rows;
  return [...rows.filter((row) => row.rate_key !== null), ...rows.filter((row) => row.rate_key === null)];
}
