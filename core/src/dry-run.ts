/**
 * `dryRun`: the task table in memory. The engine is the same one that runs on Postgres (the
 * commit hook, `tick`, the runner, maintenance); only its storage differs: each operation of
 * {@link TaskStore} is written here again over a map of rows, with the SQL's rules (due order,
 * sequence keys, dedupe keys, leases and their fencing tokens, rescue, the attempt counting), so
 * that what an application's tests see on a dry run is what it gets from the database.
 *
 * What a memory table cannot do, it refuses with `GTA_UNSUPPORTED`: an enqueue in a transaction
 * the manager did not open (nothing tells it whether that commits) and `enqueueStatement` (a
 * statement for a database that is not there).
 * @module
 */

import { MemoryClaimLimits, memorySlots } from './dry-run-limits.js';
import { MemorySchedules } from './dry-run-schedules.js';
import { ERROR_CODES, GtaError } from './errors.js';
import type { TaskStatus } from './states.js';
import { appendedHistory } from './storage/history.js';
import {
  type AbnormalThresholds,
  type Batch,
  type BatchResult,
  type Claimed,
  type ClaimOptions,
  type Ending,
  type InsertClaim,
  type InsertedTask,
  inClaimOrder,
  insertedRow,
  type LeaseRef,
  type ListQuery,
  leaseKey,
  limitsFor,
  MAINTENANCE_LEASE_MS,
  type MaintenanceRound,
  type NewTask,
  type ScheduleIdentity,
  type ScheduleOffer,
  type SelectedRow,
  type StartedLease,
  type StatsRows,
  type TaskStore,
  type ThroughputRow,
} from './storage/index.js';
import { FENCED_BY_RERUN } from './storage/queries.js';
import type { AbnormalReason, AttemptOutcome, DedupeFor, SqlExecutor, TaskId } from './types.js';

const MINUTE = 60_000;

/**
 * A task table in memory, for managers created with `dryRun`. Managers given the same table see
 * the same tasks, as instances sharing one database table do.
 * @example
 * const table = memoryTaskTable();
 * const api = createTaskManager({ dryRun: table, tasks: [sendWelcome] });
 * const worker = createTaskManager({ dryRun: table, tasks: [sendWelcome] });
 */
export class MemoryTaskTable {
  /** Committed rows, by id. */
  readonly rows = new Map<number, SelectedRow>();
  /**
   * Rows inserted in a transaction of `manager.transaction` that has not ended yet, with that
   * transaction: as in Postgres, only it sees them, and an insert of the same dedupe key elsewhere
   * waits until it ends.
   */
  readonly pending = new Map<number, { row: SelectedRow; owner: object | undefined }>();
  /**
   * Dedupe keys released by a pending row's insert, by that row's id: the committed row that held
   * the key gives it up when the insert commits, and keeps it if the insert is dropped. Until then
   * an insert of the key elsewhere waits, as it waits on the holder's row lock in Postgres.
   */
  readonly releases = new Map<number, TaskId>();
  /** Inserts waiting for a transaction's pending rows to commit or go. */
  waiters: (() => void)[] = [];
  /** The order in which rows became `failed` (the memory's transaction ids). */
  readonly failures = new Map<number, number>();
  failureCount = 0;
  /** The maintenance round: when the next is due, the last completed report, the owner's lease. */
  round: { runAt: number; reported: string | null; lease: { token: string; until: number } | null } | null =
    null;
  /** The slots of concurrency and rate-limited groups. */
  readonly slots = memorySlots();
  /** The schedules' rows. */
  readonly schedules = new MemorySchedules();
  #nextId = 1;

  nextId(): number {
    return this.#nextId++;
  }
}

/** A new, empty in-memory task table. */
export function memoryTaskTable(): MemoryTaskTable {
  return new MemoryTaskTable();
}

/** A transaction of `manager.transaction` on a dry run without a database. */
export interface MemoryTransaction {
  /** Opens a savepoint: the tasks enqueued in it are dropped if `fn` throws. */
  transaction<T>(fn: (savepoint: MemoryTransaction) => Promise<T>): Promise<T>;
  /** Refuses: there is no database to send a statement to. */
  execute(): Promise<never>;
}

/**
 * A transaction of `manager.transaction` on a dry run without a database: it holds nothing (the
 * tasks enqueued in it wait in the table's pending rows until it ends), and opens savepoints, so
 * that code enqueueing in a transaction runs unchanged.
 */
export function memoryTransaction(): MemoryTransaction {
  return {
    transaction: (fn) => fn(memoryTransaction()),
    execute: async () => {
      throw new GtaError(
        ERROR_CODES.unsupported,
        'a dryRun manager without a db has no database to run statements on; pass db to run your own writes',
      );
    },
  };
}

/** The {@link TaskStore} of a dry run: `table`, read by `clock` (or the local time). */
export function memoryStore(table: MemoryTaskTable, clock: (() => Date) | undefined): TaskStore {
  return new MemoryStore(table, clock);
}

class MemoryStore implements TaskStore {
  readonly sharesTransactions = false;

  constructor(
    readonly table: MemoryTaskTable,
    readonly clock: (() => Date) | undefined,
  ) {}

  #now(): number {
    return this.clock ? this.clock().getTime() : Date.now();
  }

  get #rows(): Map<number, SelectedRow> {
    return this.table.rows;
  }

  async migrate() {
    return { applied: [], version: 0 };
  }

  async insertTask(
    task: NewTask,
    claim: InsertClaim | null,
    tx: SqlExecutor | undefined,
    transaction: object | undefined,
  ) {
    let lapsedHolder: SelectedRow | null = null;
    if (task.dedupeKey !== null) {
      for (;;) {
        const existing = this.#withDedupeKey(task.key, task.dedupeKey, transaction);
        if (existing === null) break;
        if (existing !== 'pending elsewhere') {
          if (!this.#releasedBy(existing, task.dedupeFor))
            return { id: Number(existing.id), inserted: false, claimed: null };
          lapsedHolder = existing;
          break;
        }
        await new Promise<void>((resolve) => this.table.waiters.push(resolve));
      }
    }
    const [inserted] = this.#insert([task], claim ? { ...claim, first: 1 } : null, tx, transaction);
    if (lapsedHolder) {
      if (tx) this.table.releases.set(inserted!.id, Number(lapsedHolder.id));
      else releaseDedupeKey(lapsedHolder);
    }
    return { ...inserted!, inserted: true };
  }

  /** Whether `holder` no longer holds its dedupe key against an insert asking for `dedupeFor`. */
  #releasedBy(holder: SelectedRow, dedupeFor: DedupeFor): boolean {
    if (dedupeFor === 'stored') return false;
    if (dedupeFor === 'unfinished') return FINISHED.has(holder.status);
    return holder.created_at <= this.#now() - dedupeFor.ms;
  }

  async insertTasks(
    tasks: NewTask[],
    claim: (InsertClaim & { first: number }) | null,
    tx: SqlExecutor | undefined,
    transaction: object | undefined,
  ) {
    return this.#insert(tasks, claim, tx, transaction);
  }

  insertTaskStatement(): never {
    throw new GtaError(
      ERROR_CODES.unsupported,
      'enqueueStatement needs a database; a dryRun manager has none: use enqueue',
    );
  }

  settleTransaction(committed: TaskId[], dropped: TaskId[]): void {
    for (const id of committed) {
      const pending = this.table.pending.get(id);
      if (!pending) continue;
      this.table.pending.delete(id);
      this.#rows.set(id, pending.row);
      const holderId = this.table.releases.get(id);
      const holder = holderId === undefined ? undefined : this.#rows.get(holderId);
      if (holder) releaseDedupeKey(holder);
      this.table.releases.delete(id);
    }
    for (const id of dropped) {
      this.table.pending.delete(id);
      this.table.releases.delete(id);
    }
    // Inserts that waited for a row of these to commit or go look again.
    const waiters = this.table.waiters;
    this.table.waiters = [];
    for (const wake of waiters) wake();
  }

  #insert(
    tasks: NewTask[],
    claim: (InsertClaim & { first: number }) | null,
    tx: SqlExecutor | undefined,
    owner: object | undefined,
  ) {
    const now = this.#now();
    const leaseToken = globalThis.crypto.randomUUID();
    return tasks.map((task, index): InsertedTask => {
      const claimed = claim !== null && index < claim.first;
      const id = this.table.nextId();
      const lease = claimed
        ? {
            token: leaseToken,
            expiresAt: now + Math.min(task.timeoutMs, claim.heartbeatLeaseMs) + claim.leaseMs,
          }
        : null;
      const row = insertedRow(task, String(id), now, lease);
      if (tx) this.table.pending.set(id, { row, owner });
      else this.#rows.set(id, row);
      return { id, claimed: claimed ? { ...row } : null };
    });
  }

  /**
   * The stored task holding a dedupe key, as an insert in `transaction` sees it: committed, or
   * pending in that same transaction; `'pending elsewhere'` when another open transaction holds it
   * (the insert then waits, as in Postgres); null when none does.
   */
  #withDedupeKey(
    key: string,
    dedupeKey: string,
    transaction: object | undefined,
  ): SelectedRow | 'pending elsewhere' | null {
    const holds = (row: SelectedRow) => row.task_key === key && row.dedupe_key === dedupeKey;
    const ours = (owner: object | undefined) => owner !== undefined && owner === transaction;
    const releaser = (row: SelectedRow) =>
      [...this.table.releases].find(([, holder]) => holder === Number(row.id))?.[0];
    for (const row of this.#rows.values()) {
      if (!holds(row)) continue;
      const releasedBy = releaser(row);
      // A key this transaction released is free to it; one another transaction released waits on it.
      if (releasedBy === undefined) return row;
      if (!ours(this.table.pending.get(releasedBy)?.owner)) return 'pending elsewhere';
    }
    for (const { row, owner } of this.table.pending.values()) {
      if (!holds(row)) continue;
      if (!ours(owner)) return 'pending elsewhere';
      // Pending rows are seen by their own transaction only, which may have released this one's key.
      if (releaser(row) === undefined) return row;
    }
    return null;
  }

  async claimTasks(options: ClaimOptions): Promise<Claimed> {
    const claimed: Claimed = { rows: [], passedOver: 0, deferred: 0 };
    if (options.limit <= 0 || options.keys.length === 0 || options.ids?.length === 0) return claimed;
    const now = this.#now();
    const limits = new MemoryClaimLimits(
      this.table.slots,
      limitsFor(options.limits, options.keys),
      this.#rows.values(),
      now,
      options.rateLimitedMax ?? options.limit,
    );
    const keys = new Set(options.keys);
    const ids = options.ids ? new Set(options.ids) : null;
    const overdue = (row: SelectedRow) =>
      row.init_timeout_sensitive && row.run_at < now - options.initializedTimeout;
    // Per sequence key: whether a task of it runs, and its earliest task waiting to run.
    const sequences = new Map<string, { running: boolean; earliestWaiting: number }>();
    for (const row of this.#rows.values()) {
      if (row.sequence_key === null) continue;
      const sequence = sequences.get(row.sequence_key) ?? { running: false, earliestWaiting: Infinity };
      if (row.status === 'running') sequence.running = true;
      if (row.status === 'initialized' && !overdue(row)) {
        sequence.earliestWaiting = Math.min(sequence.earliestWaiting, Number(row.id));
      }
      sequences.set(row.sequence_key, sequence);
    }
    const blocked = (candidate: SelectedRow) => {
      const sequence = candidate.sequence_key === null ? undefined : sequences.get(candidate.sequence_key);
      return sequence !== undefined && (sequence.running || sequence.earliestWaiting < Number(candidate.id));
    };
    const candidates = [...this.#rows.values()]
      .filter(
        (row) =>
          row.status === 'initialized' &&
          row.run_at <= now &&
          keys.has(row.task_key) &&
          !overdue(row) &&
          (options.maxTimeoutMs === undefined || row.timeout_ms <= options.maxTimeoutMs) &&
          (ids === null || ids.has(Number(row.id))) &&
          !blocked(row) &&
          limits.hasRoom(row),
      )
      .sort(inClaimOrder)
      .slice(0, options.limit);
    const leaseToken = globalThis.crypto.randomUUID();
    const leaseMs = options.leaseMargin + (options.queueAllowance ?? 0);
    for (const row of candidates) {
      const admission = limits.admit(row, now);
      if (!admission.start) {
        claimed.passedOver++;
        if (admission.deferTo !== null) {
          claimed.deferred++;
          Object.assign(row, { run_at: Math.max(row.run_at, admission.deferTo), updated_at: now });
        }
        continue;
      }
      Object.assign(row, {
        status: 'running',
        attempts: row.attempts + 1,
        lease_token: leaseToken,
        lease_expires_at: now + Math.min(row.timeout_ms, options.heartbeatLeaseMs) + leaseMs,
        started_at: null,
        finished_at: null,
        updated_at: now,
      });
      claimed.rows.push({ ...row });
    }
    return claimed;
  }

  /** The row held under `lease`, or undefined when the lease was lost. */
  #held(lease: LeaseRef): SelectedRow | undefined {
    const row = this.#rows.get(lease.id);
    return row?.status === 'running' && row.lease_token === lease.leaseToken ? row : undefined;
  }

  /** As in SQL: an injected clock does not pass while a handler runs. */
  #recordStart(row: SelectedRow, now: number, agoMs: number): void {
    row.started_at ??= this.clock ? now : now - agoMs;
  }

  async writeBatch(batch: Batch): Promise<BatchResult> {
    const now = this.#now();
    const completed = new Map<string, Ending>();
    const started = new Set<string>();
    const renewed = new Map<string, string | null>();
    for (const success of batch.successes) {
      const row = this.#held(success);
      if (!row) continue;
      completed.set(leaseKey(success), this.#succeed(row, success, success.deleteRow, now));
    }
    for (const start of batch.starts) {
      const row = this.#held(start);
      if (!row || row.started_at !== null) continue;
      started.add(leaseKey(start));
      this.#recordStart(row, now, start.agoMs);
    }
    for (const lease of batch.renewals?.leases ?? []) {
      const row = this.#held(lease);
      if (!row) continue;
      row.lease_expires_at = now + batch.renewals!.leaseMs;
      renewed.set(leaseKey(lease), row.cancel_reason);
    }
    const claimed = batch.claim
      ? await this.claimTasks(batch.claim)
      : { rows: [], passedOver: 0, deferred: 0 };
    return { completed, started, claimed, renewed };
  }

  /** Transition "complete", or "cancel" for a task whose cancel was requested while it ran. */
  #succeed(row: SelectedRow, lease: StartedLease, deleteRow: boolean, now: number): Ending {
    if (row.cancel_reason !== null) {
      this.#markCancelled(row, lease, now, row.cancel_reason);
      return 'cancelled';
    }
    if (deleteRow) {
      this.#rows.delete(Number(row.id));
      return 'succeeded';
    }
    this.#recordStart(row, now, lease.startedAgoMs);
    Object.assign(row, {
      status: 'succeeded',
      lease_token: null,
      lease_expires_at: null,
      finished_at: now,
      updated_at: now,
    });
    return 'succeeded';
  }

  #markCancelled(row: SelectedRow, lease: StartedLease, now: number, reason: string): void {
    this.#recordStart(row, now, lease.startedAgoMs);
    this.#attemptEnded(row, now, 'cancelled', row.cancel_reason ?? reason);
    Object.assign(row, {
      status: 'cancelled',
      last_error: row.cancel_reason ?? reason,
      lease_token: null,
      lease_expires_at: null,
      finished_at: now,
      updated_at: now,
    });
  }

  /** Appends the attempt of `row` that ended at `now` to its history, as the SQL does. */
  #attemptEnded(row: SelectedRow, endedAt: number, outcome: AttemptOutcome, error: string | null): void {
    row.attempt_history = appendedHistory(row.attempt_history, {
      attempt: row.attempts,
      startedAt: row.started_at,
      endedAt,
      outcome,
      error,
    });
  }

  async confirmClaims(leases: LeaseRef[]): Promise<Set<string>> {
    return new Set(leases.filter((lease) => this.#held(lease)).map(leaseKey));
  }

  async completeTask(lease: StartedLease, options: { deleteRow: boolean; children: NewTask[] }) {
    const row = this.#held(lease);
    if (!row) return null;
    const ending = this.#succeed(row, lease, options.deleteRow, this.#now());
    if (ending === 'cancelled') return { ending, childIds: [] };
    return {
      ending,
      childIds: this.#insert(options.children, null, undefined, undefined).map((child) => child.id),
    };
  }

  async cancelRunning(lease: StartedLease, reason: string) {
    const row = this.#held(lease);
    if (!row) return false;
    this.#markCancelled(row, lease, this.#now(), reason);
    return true;
  }

  async failTask(lease: StartedLease, options: { error: string; retryDelayMs: number | null }) {
    const row = this.#held(lease);
    if (!row) return null;
    const now = this.#now();
    if (row.cancel_reason !== null) {
      this.#markCancelled(row, lease, now, row.cancel_reason);
      return 'cancelled' as const;
    }
    this.#recordStart(row, now, lease.startedAgoMs);
    this.#attemptEnded(row, now, options.retryDelayMs === null ? 'failed' : 'retried', options.error);
    if (options.retryDelayMs === null) this.#markFailed(row, now);
    else Object.assign(row, { status: 'initialized', run_at: now + options.retryDelayMs });
    Object.assign(row, {
      last_error: options.error,
      lease_token: null,
      lease_expires_at: null,
      updated_at: now,
    });
    return row.status as 'failed' | 'initialized';
  }

  #markFailed(row: SelectedRow, now: number): void {
    Object.assign(row, { status: 'failed', finished_at: now });
    this.table.failures.set(Number(row.id), ++this.table.failureCount);
  }

  async releaseTask(lease: StartedLease, reason: string) {
    const row = this.#held(lease);
    if (!row) return null;
    const now = this.#now();
    if (row.cancel_reason !== null) {
      this.#markCancelled(row, lease, now, row.cancel_reason);
      return 'cancelled' as const;
    }
    this.#recordStart(row, now, lease.startedAgoMs);
    this.#attemptEnded(row, now, 'released', reason);
    Object.assign(row, {
      status: 'initialized',
      attempts: Math.max(row.attempts - 1, 0),
      run_at: now,
      lease_token: null,
      lease_expires_at: null,
      last_error: reason,
      updated_at: now,
    });
    return 'initialized' as const;
  }

  async releaseUnstarted(leases: LeaseRef[]) {
    const now = this.#now();
    let released = 0;
    for (const lease of leases) {
      const row = this.#held(lease);
      if (!row) continue;
      released++;
      Object.assign(row, {
        status: row.cancel_reason === null ? 'initialized' : 'cancelled',
        attempts: Math.max(row.attempts - 1, 0),
        last_error: row.cancel_reason ?? row.last_error,
        finished_at: row.cancel_reason === null ? null : now,
        lease_token: null,
        lease_expires_at: null,
        started_at: null,
        updated_at: now,
      });
    }
    return released;
  }

  async rescueExpiredLeases(limit: number) {
    const now = this.#now();
    const expired = [...this.#rows.values()]
      .filter((row) => row.status === 'running' && row.lease_expires_at! < now)
      .sort((a, b) => a.lease_expires_at! - b.lease_expires_at!)
      .slice(0, limit);
    let failed = 0;
    let cancelled = 0;
    for (const row of expired) {
      const unrecorded = row.started_at === null;
      const retries = unrecorded || row.attempts < row.max_attempts;
      const expiredDuring = `lease expired during attempt ${row.attempts}: the invocation ended or stalled before completing the task`;
      // A claim whose start was never recorded is no attempt, and leaves no entry.
      if (!unrecorded) {
        const cancelled = row.cancel_reason !== null;
        this.#attemptEnded(row, now, cancelled ? 'cancelled' : 'expired', row.cancel_reason ?? expiredDuring);
      }
      if (row.cancel_reason !== null) {
        Object.assign(row, { status: 'cancelled', finished_at: now });
        cancelled++;
      } else if (retries) Object.assign(row, { status: 'initialized', finished_at: null });
      else {
        this.#markFailed(row, now);
        failed++;
      }
      Object.assign(row, {
        attempts: unrecorded ? Math.max(row.attempts - 1, 0) : row.attempts,
        unstarted_expiries: row.unstarted_expiries + (unrecorded ? 1 : 0),
        last_error:
          row.cancel_reason ??
          (unrecorded
            ? 'lease expired before the start of an attempt was recorded: the invocation ended before the handler started (or right after), so the attempt is not counted'
            : expiredDuring),
        run_at: now,
        lease_token: null,
        lease_expires_at: null,
        updated_at: now,
      });
    }
    return { retried: expired.length - failed - cancelled, failed, cancelled };
  }

  async takeMaintenanceRound(intervalMs: number): Promise<MaintenanceRound | null> {
    const now = this.#now();
    const round = this.table.round ?? { runAt: now, reported: null, lease: null };
    if (round.runAt > now || (round.lease && round.lease.until >= now)) return null;
    const token = globalThis.crypto.randomUUID();
    round.runAt = now + intervalMs;
    round.lease = { token, until: now + Math.max(intervalMs, MAINTENANCE_LEASE_MS) };
    this.table.round = round;
    return { token, previousSnapshot: round.reported, snapshot: String(this.table.failureCount) };
  }

  async endMaintenanceRound(taken: MaintenanceRound, completed: boolean): Promise<void> {
    const round = this.table.round;
    if (round?.lease?.token !== taken.token) return;
    if (completed) round.reported = taken.snapshot;
    round.lease = null;
  }

  async findAbnormalTasks(thresholds: AbnormalThresholds) {
    const now = this.#now();
    const rows = [...this.#rows.values()];
    const limit = (list: SelectedRow[]) => list.slice(0, thresholds.limit);
    const byRunAt = (a: SelectedRow, b: SelectedRow) => a.run_at - b.run_at;
    const overdueBy = (row: SelectedRow) =>
      row.status === 'initialized' && row.run_at < now - thresholds.initializedTimeout;
    const overdue = limit([
      ...limit(rows.filter((row) => overdueBy(row) && row.init_timeout_sensitive).sort(byRunAt)),
      ...limit(rows.filter((row) => overdueBy(row) && !row.init_timeout_sensitive).sort(byRunAt)),
    ]);
    const runningSince = (row: SelectedRow) => row.started_at ?? row.updated_at;
    const running = limit(
      rows
        .filter((row) => row.status === 'running' && runningSince(row) < now - thresholds.runningTimeout)
        .sort((a, b) => runningSince(a) - runningSince(b)),
    );
    const order = (row: SelectedRow) => this.table.failures.get(Number(row.id)) ?? 0;
    const after = thresholds.failedAfter;
    const failed = limit(
      this.#newlyFailed(rows, thresholds, now).filter(
        (row) =>
          after === null ||
          order(row) > Number(after.xid) ||
          (order(row) === Number(after.xid) && Number(row.id) > Number(after.id)),
      ),
    ).map((row) => ({
      reason: 'failed' as const,
      row: { ...row },
      cursor: { xid: String(order(row)), id: row.id },
    }));
    if (after !== null) return failed;
    const window = thresholds.tickWindow;
    const tooLong = window
      ? limit(
          rows
            .filter(
              (row) =>
                row.status === 'initialized' &&
                row.run_at <= now &&
                row.timeout_ms > window.ms &&
                window.keys.includes(row.task_key),
            )
            .sort(byRunAt),
        )
      : [];
    const reasoned = (reason: AbnormalReason) => (row: SelectedRow) => ({ reason, row: { ...row } });
    return [
      ...overdue.map(reasoned('initialized-too-long')),
      ...running.map(reasoned('running-too-long')),
      ...tooLong.map(reasoned('exceeds-tick-window')),
      ...failed,
    ];
  }

  /** The failed rows to report, as in SQL: counted in the order they failed instead of by xid. */
  #newlyFailed(rows: SelectedRow[], thresholds: AbnormalThresholds, now: number): SelectedRow[] {
    const order = (row: SelectedRow) => this.table.failures.get(Number(row.id)) ?? 0;
    const failed = rows.filter((row) => row.status === 'failed');
    const { round } = thresholds;
    const inReportOrder = (a: SelectedRow, b: SelectedRow) =>
      order(a) - order(b) || Number(a.id) - Number(b.id);
    if (round === null || round.previousSnapshot === null) {
      const seen = round === null ? Number.POSITIVE_INFINITY : Number(round.snapshot);
      return failed
        .filter((row) => row.finished_at! >= now - thresholds.storageTimeout && order(row) <= seen)
        .sort(inReportOrder);
    }
    const after = Number(round.previousSnapshot);
    const until = Number(round.snapshot);
    return failed.filter((row) => order(row) > after && order(row) <= until).sort(inReportOrder);
  }

  async cleanSucceededTasks(options: { storageTimeout: number; limit: number }) {
    const before = this.#now() - options.storageTimeout;
    const old = [...this.#rows.values()]
      .filter((row) => row.status === 'succeeded' && row.updated_at < before)
      .slice(0, options.limit);
    for (const row of old) this.#rows.delete(Number(row.id));
    return old.length;
  }

  async fireSchedules(offers: ScheduleOffer[]) {
    return this.table.schedules.fire(offers, this.#now(), (tasks) => {
      // One task per schedule and slot, as the table's unique index keeps it.
      const kept = new Set([...this.#rows.values()].map((row) => `${row.schedule_id}@${row.scheduled_for}`));
      const fresh = tasks.filter((task) => !kept.has(`${task.scheduleId}@${Date.parse(task.scheduledFor!)}`));
      return this.#insert(fresh, null, undefined, undefined).length;
    });
  }

  async listSchedules() {
    return this.table.schedules.list(this.#rows.values());
  }

  async setSchedulePaused(schedule: ScheduleIdentity, paused: boolean) {
    this.table.schedules.setPaused(schedule, paused, this.#now());
  }

  async cleanRateSlots(limit: number) {
    const before = this.#now() - MINUTE;
    let cleaned = 0;
    for (const [slot, freeAt] of this.table.slots.rateFreeAt) {
      if (cleaned === limit) break;
      if (freeAt >= before) continue;
      this.table.slots.rateFreeAt.delete(slot);
      cleaned++;
    }
    return cleaned;
  }

  async getTask(id: TaskId) {
    const row = this.#rows.get(id);
    return row ? { ...row } : null;
  }

  async listTasks(query: ListQuery) {
    const after = (time: number, bound: string | null) => bound === null || time >= Date.parse(bound);
    const before = (time: number, bound: string | null) => bound === null || time < Date.parse(bound);
    return [...this.#rows.values()]
      .filter(
        (row) =>
          (query.statuses === null || query.statuses.includes(row.status as TaskStatus)) &&
          (query.key === null || row.task_key === query.key) &&
          after(row.created_at, query.createdAfter) &&
          before(row.created_at, query.createdBefore) &&
          after(row.updated_at, query.updatedAfter) &&
          before(row.updated_at, query.updatedBefore) &&
          (query.beforeId === null || Number(row.id) < query.beforeId),
      )
      .sort((a, b) => Number(b.id) - Number(a.id))
      .slice(0, query.limit)
      .map((row) => ({ ...row }));
  }

  async queryUnsuccessfulTasks(page: { limit: number; offset: number }) {
    return [...this.#rows.values()]
      .filter((row) => row.status !== 'succeeded')
      .sort((a, b) => Number(a.id) - Number(b.id))
      .slice(page.offset, page.offset + page.limit)
      .map((row) => ({ ...row }));
  }

  async taskStats(): Promise<StatsRows> {
    const now = this.#now();
    const counts = new Map<string, { task_key: string; status: string; count: number }>();
    let oldestDue: number | null = null;
    for (const row of this.#rows.values()) {
      const key = `${row.task_key}\u0000${row.status}`;
      const entry = counts.get(key) ?? { task_key: row.task_key, status: row.status, count: 0 };
      entry.count++;
      counts.set(key, entry);
      if (row.status === 'initialized' && row.run_at <= now)
        oldestDue = Math.min(oldestDue ?? row.run_at, row.run_at);
    }
    return {
      counts: [...counts.values()],
      oldestInitializedAgeMs: oldestDue === null ? null : now - oldestDue,
    };
  }

  async forceRerunTasks(ids: TaskId[], status: TaskStatus) {
    const now = this.#now();
    let moved = 0;
    for (const id of new Set(ids)) {
      const row = this.#rows.get(id);
      if (row?.status !== status) continue;
      moved++;
      // A success, which the row alone showed, joins the history (every other ending is there).
      if (row.status === 'succeeded' && row.started_at !== null) {
        this.#attemptEnded(row, row.finished_at!, 'succeeded', null);
      }
      // A running attempt whose handler started is fenced out: its result will write nothing.
      if (row.status === 'running' && row.started_at !== null) {
        this.#attemptEnded(row, Math.max(now, row.started_at), 'released', FENCED_BY_RERUN);
      }
      Object.assign(row, {
        status: 'initialized',
        attempts: 0,
        run_at: now,
        lease_token: null,
        lease_expires_at: null,
        finished_at: null,
        cancel_reason: null,
        updated_at: now,
      });
    }
    return moved;
  }

  async cancelTask(id: TaskId, reason: string) {
    const row = this.#rows.get(id);
    const now = this.#now();
    if (row?.status === 'initialized') {
      Object.assign(row, { status: 'cancelled', last_error: reason, finished_at: now, updated_at: now });
      return 'cancelled' as const;
    }
    if (row?.status === 'running' && row.cancel_reason === null) {
      Object.assign(row, { cancel_reason: reason, updated_at: now });
      return 'requested' as const;
    }
    return null;
  }

  async taskThroughput(minutes: number): Promise<ThroughputRow[]> {
    const now = this.#now();
    const since = Math.floor(now / MINUTE) * MINUTE - (minutes - 1) * MINUTE;
    const perMinute = new Map<number, ThroughputRow>();
    for (const row of this.#rows.values()) {
      if ((row.status !== 'succeeded' && row.status !== 'failed') || row.finished_at === null) continue;
      if (row.finished_at < since) continue;
      const minute = Math.floor(row.finished_at / MINUTE) * MINUTE;
      const point = perMinute.get(minute) ?? { minute, succeeded: 0, failed: 0 };
      if (row.status === 'succeeded') point.succeeded++;
      else point.failed++;
      perMinute.set(minute, point);
    }
    return [...perMinute.values()].sort((a, b) => a.minute - b.minute);
  }
}

/** The states in which a task has finished, for `dedupeFor: 'unfinished'`. */
const FINISHED = new Set(['succeeded', 'failed', 'cancelled']);

/** Moves a row's dedupe key out of its holding place, as the Postgres store's release does. */
function releaseDedupeKey(holder: SelectedRow): void {
  if (holder.dedupe_key === null) return;
  holder.released_dedupe_key = holder.dedupe_key;
  holder.dedupe_key = null;
}
