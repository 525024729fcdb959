/**
 * Inserting tasks: one, many, or the nested children of a task (inside its completion).
 *
 * Every time an insert writes is the statement's own clock, read once (`clock_timestamp()`, not
 * the start of the caller's transaction): a task enqueued late in a long transaction is created,
 * and counts its delay, from the enqueue.
 *
 * A task the commit hook will start can be claimed by its own insert (transition "claim"): it is
 * written `running`, with a lease, so that right after COMMIT its handler starts without another
 * round trip. Its lease is measured from the statement's clock too, so a caller that reads the local
 * time before sending the insert knows a lower bound of how long the lease lasts. Its `started_at`
 * stays null until the executor records the start of its handler: a lease rescue then knows the
 * invocation may have ended before the handler started, and gives the attempt back (see
 * `rescueExpiredLeases`).
 * @module
 */
import { type SQL, sql } from 'drizzle-orm';
import { ERROR_CODES, GtaError } from '../errors.js';
import type { DedupeFor, SqlExecutor, TaskId, TransactionalDatabase } from '../types.js';
import {
  type InsertClaimedColumns,
  insertClaimedColumns,
  insertClaimedRow,
  type SelectedRow,
} from './rows.js';
import {
  freshLeaseToken,
  jsonParam,
  millis,
  queryRows,
  type StorageContext,
  statementNowOf,
  tableOf,
} from './sql.js';

/** A task ready to be written: argument and context already serialized and checked. */
export interface NewTask {
  key: string;
  /** The argument as JSON text. */
  arg: string;
  context: string | null;
  maxAttempts: number;
  timeoutMs: number;
  initTimeoutSensitive: boolean;
  /** Absolute start time (ISO-8601), or null for `delayMs` from now. */
  runAt: string | null;
  delayMs: number;
  dedupeKey: string | null;
  /** How long a task found holding `dedupeKey` keeps it from this insert (see `EnqueueOptions`). */
  dedupeFor: DedupeFor;
  sequenceKey: string | null;
  priority: number;
  /** The task's groups, from its definition's limits: null for none, '' for the task's one group. */
  concurrencyKey: string | null;
  rateKey: string | null;
  parentId: TaskId | null;
  /** The schedule that fired the task, and the slot it fired for (null: the statement's time). */
  scheduleId?: string | null;
  scheduledFor?: string | null;
}

/**
 * Claiming a task in its insert: the lease lasts its timeout (at most `heartbeatLeaseMs`, beyond
 * which its invocation's heartbeats renew it) plus `leaseMs`.
 */
export interface InsertClaim {
  leaseMs: number;
  heartbeatLeaseMs: number;
}

/** An insert's claim with the lease token it writes, drawn by the client so that it knows it. */
type TokenedClaim = InsertClaim & { leaseToken: string };

/** An inserted task; `claimed` is its row when the insert claimed it. */
export interface InsertedTask {
  id: TaskId;
  claimed: SelectedRow | null;
}

const CLAIM_COLUMNS = sql`status, attempts, lease_token, lease_expires_at`;

/** The statement's clock, read once: `clock.now` in an insert that selects from {@link clockOf}. */
const NOW = sql`clock.now`;

/** A one-row relation `clock` holding the statement's time, for an insert's select to join. */
export function clockOf(context: StorageContext): SQL {
  return sql`(select ${statementNowOf(context)} as now) as clock`;
}

/**
 * The values of {@link CLAIM_COLUMNS} for a task claimed by its insert, or (when `when` is false
 * for a row) of an unclaimed one; `timeoutMs` is the row's timeout expression.
 */
function claimValues(claim: TokenedClaim, timeoutMs: SQL, when: SQL): SQL {
  const leaseEnd = sql`${NOW} + ((least(${timeoutMs}, ${claim.heartbeatLeaseMs}::int) + ${claim.leaseMs}::float8) * interval '1 millisecond')`;
  return sql`case when ${when} then 'running' else 'initialized' end,
       case when ${when} then 1 else 0 end,
       case when ${when} then ${claim.leaseToken}::uuid end,
       case when ${when} then ${leaseEnd} end`;
}

/** The columns an insert from a jsonb task ({@link taskValuesOf}) writes. */
export const TASK_COLUMNS = sql`task_key, arg, context, max_attempts, timeout_ms, init_timeout_sensitive,
  run_at, dedupe_key, sequence_key, priority, concurrency_key, rate_key, parent_id, created_at, updated_at,
  schedule_id, scheduled_for`;

/**
 * The values of {@link TASK_COLUMNS} for the {@link NewTask} held by the jsonb expression `v` (its
 * argument parsed), in a select that has the relation `clock` of the statement's time. A task of
 * a schedule written without its slot (a firing an operator asked for) stores none, so that it
 * never takes the place of a slot in the (schedule, slot) unique index; see {@link slotOf}.
 */
export function taskValuesOf(v: SQL): SQL {
  return sql`${v}->>'key', ${v}->'arg', ${v}->>'context', (${v}->>'maxAttempts')::int, (${v}->>'timeoutMs')::int,
       (${v}->>'initTimeoutSensitive')::boolean,
       coalesce((${v}->>'runAt')::timestamptz, ${NOW} + (${v}->>'delayMs')::float8 * interval '1 millisecond'),
       ${v}->>'dedupeKey', ${v}->>'sequenceKey', (${v}->>'priority')::int, ${v}->>'concurrencyKey', ${v}->>'rateKey',
       (${v}->>'parentId')::bigint, ${NOW}, ${NOW}, ${v}->>'scheduleId',
       (${v}->>'scheduledFor')::timestamptz`;
}

/** A task as the jsonb value {@link taskValuesOf} reads: its argument parsed, not as text. */
export function taskPayload(task: NewTask): unknown {
  return { ...task, arg: JSON.parse(task.arg) as unknown };
}

/**
 * The insert of `tasks` in input order, as one statement selecting from a jsonb array: rows take
 * identity values in that order, so sorted ids match the input. Dedupe conflicts insert nothing.
 */
function insertSelect(
  context: StorageContext,
  tasks: NewTask[],
  guard: SQL | null,
  returning: SQL,
  claim?: TokenedClaim & { first: number },
): SQL {
  const payload = tasks.map(taskPayload);
  const claimed = claim
    ? {
        columns: sql`, ${CLAIM_COLUMNS}`,
        values: sql`, ${claimValues(claim, sql`(v->>'timeoutMs')::int`, sql`input.ord <= ${claim.first}::int`)}`,
      }
    : { columns: sql``, values: sql`` };
  return sql`insert into ${tableOf(context)} as task (${TASK_COLUMNS}${claimed.columns})
    select ${taskValuesOf(sql`v`)}${claimed.values}
    from jsonb_array_elements(${jsonParam(payload)}) with ordinality as input(v, ord), ${clockOf(context)}
    ${guard ?? sql``}
    order by input.ord
    on conflict (task_key, dedupe_key) where dedupe_key is not null do nothing
    returning ${returning}`;
}

/**
 * The insert of one task as a single row selected from the statement's clock (planned far faster
 * than a select from a jsonb array), claimed with `claim`. A dedupe conflict inserts nothing.
 * Returns the id as text, and with a claim what the client cannot know of the row
 * ({@link InsertClaimedColumns}).
 */
function insertOne(context: StorageContext, task: NewTask, claim: TokenedClaim | null): SQL {
  const claimed = claim
    ? {
        columns: sql`, ${CLAIM_COLUMNS}`,
        values: sql`, ${claimValues(claim, sql`${task.timeoutMs}::int`, sql`true`)}`,
        returning: insertClaimedColumns('task'),
      }
    : { columns: sql``, values: sql``, returning: sql`task.id::text as id` };
  return sql`insert into ${tableOf(context)} as task
      (task_key, arg, context, max_attempts, timeout_ms, init_timeout_sensitive, run_at,
       dedupe_key, sequence_key, priority, concurrency_key, rate_key, parent_id, created_at, updated_at${claimed.columns})
    select ${task.key}, ${task.arg}::jsonb, ${task.context}, ${task.maxAttempts}::int, ${task.timeoutMs}::int,
       ${task.initTimeoutSensitive}::boolean,
       coalesce(${task.runAt}::timestamptz, ${NOW} + ${task.delayMs}::float8 * interval '1 millisecond'),
       ${task.dedupeKey}, ${task.sequenceKey}, ${task.priority}::int, ${task.concurrencyKey}, ${task.rateKey},
       ${task.parentId}::bigint, ${NOW}, ${NOW}${claimed.values}
    from ${clockOf(context)}
    on conflict (task_key, dedupe_key) where dedupe_key is not null do nothing
    returning ${claimed.returning}`;
}

/**
 * How many times an insert of a dedupe key looks for the task holding it, or releases a key held
 * past its `dedupeFor`, before giving up: each round that does not end it saw another insert,
 * release or deletion of the same key commit meanwhile.
 */
const DEDUPE_ROUNDS = 10;

/**
 * Inserts one task, claimed with `claim` when given, and returns its id; with a dedupe key held by
 * a stored task, returns that task's id and `inserted: false` (and claims nothing), unless the
 * holder is past the insert's `dedupeFor`: then the key is released (moved to the holder's
 * `released_dedupe_key`) and the task inserted, together (see {@link serializedByDedupeKey}).
 * Two inserts racing for one key are ordered by the unique index: the second waits for the first's
 * transaction, then finds its task.
 */
export async function insertTask(
  context: StorageContext,
  task: NewTask,
  claim: InsertClaim | null = null,
): Promise<InsertedTask & { inserted: boolean }> {
  const tokened = claim ? { ...claim, leaseToken: freshLeaseToken() } : null;
  if (task.dedupeKey === null) {
    const [row] = await queryRows<InsertClaimedColumns>(
      context.db,
      'enqueue',
      insertOne(context, task, tokened),
    );
    return { id: Number(row!.id), inserted: true, claimed: claimedRowOf(task, row!, tokened) };
  }
  if (task.dedupeFor === 'stored') return insertDeduped(context, task, tokened);
  return serializedByDedupeKey(context, task, (locked) => insertDeduped(locked, task, tokened));
}

function claimedRowOf(task: NewTask, row: InsertClaimedColumns, claim: TokenedClaim | null) {
  return claim ? insertClaimedRow(task, row, claim.leaseToken) : null;
}

/** The insert-or-find rounds of a task with a dedupe key (and the release of a lapsed holder's key). */
async function insertDeduped(
  context: StorageContext,
  task: NewTask,
  tokened: TokenedClaim | null,
): Promise<InsertedTask & { inserted: boolean }> {
  const table = tableOf(context);
  const released = dedupeReleased(context, task.dedupeFor);
  const statement = sql`with inserted as (${insertOne(context, task, tokened)})
    select id, true as inserted, ${tokened ? sql`row_to_json(inserted)::text` : sql`null::text`} as claimed,
      false as released
      from inserted
    union all
    select id::text, false, null, ${released} from ${table}
      where task_key = ${task.key} and dedupe_key = ${task.dedupeKey} and not exists (select 1 from inserted)
    limit 1`;
  for (let round = 0; round < DEDUPE_ROUNDS; round++) {
    const [row] = await queryRows<{
      id: string;
      inserted: boolean;
      claimed: string | null;
      released: boolean;
    }>(context.db, 'enqueue', statement);
    // No row: a holder committed after this statement's snapshot, or the one it saw went meanwhile.
    if (!row) continue;
    if (!row.released) {
      const claimed =
        row.claimed === null
          ? null
          : claimedRowOf(task, JSON.parse(row.claimed) as InsertClaimedColumns, tokened);
      return { id: Number(row.id), inserted: Boolean(row.inserted), claimed };
    }
    await queryRows(
      context.db,
      'enqueue',
      sql`update ${table} set released_dedupe_key = dedupe_key, dedupe_key = null
        where id = ${row.id}::bigint and dedupe_key = ${task.dedupeKey} and ${released}`,
    );
  }
  throw new GtaError(
    ERROR_CODES.storage,
    `enqueue of ${task.key}: dedupe key ${String(task.dedupeKey)} was neither inserted nor found after ${DEDUPE_ROUNDS} rounds of concurrent enqueues`,
  );
}

/**
 * Runs `fn` in a transaction of its own (a savepoint inside the caller's), holding a lock on the
 * task's dedupe key until that transaction ends. A release and the insert that takes the key then
 * commit or roll back together, however `fn` ends, and enqueues that may release one key take
 * turns: each reads the clock, and judges the holder, only once the one before it has committed,
 * so a task's `created_at` is never older than its predecessor's commit, and a key that lapses at
 * once (a window of a millisecond) costs its contenders a wait, not an error.
 */
async function serializedByDedupeKey<T>(
  context: StorageContext,
  task: NewTask,
  fn: (locked: StorageContext) => Promise<T>,
): Promise<T> {
  const db = context.db as Partial<TransactionalDatabase>;
  const lock = `gta:dedupe:${context.table}:${task.key}:${task.dedupeKey}`;
  const run = (tx: SqlExecutor) =>
    queryRows(
      tx,
      'enqueue',
      sql`select 1 as locked from (select pg_advisory_xact_lock(hashtext(${lock}))) as l`,
    ).then(() => fn({ ...context, db: tx }));
  if (typeof db.transaction !== 'function') throw releaseNeedsTransactions();
  try {
    return await db.transaction(run);
  } catch (error) {
    if (error instanceof Error && /no transactions? support/i.test(error.message))
      throw releaseNeedsTransactions();
    throw error;
  }
}

function releaseNeedsTransactions(): GtaError {
  return new GtaError(
    ERROR_CODES.unsupported,
    "dedupeFor 'unfinished' or { ms } releases a key and inserts in one transaction, which this driver cannot open (neon-http): use dedupeFor 'stored', or a driver with interactive transactions",
  );
}

/** Whether the stored task of the row in scope no longer holds its dedupe key against `dedupeFor`. */
function dedupeReleased(context: StorageContext, dedupeFor: DedupeFor): SQL {
  if (dedupeFor === 'stored') return sql`false`;
  if (dedupeFor === 'unfinished') return sql`(status in ('succeeded', 'failed', 'cancelled'))`;
  return sql`(created_at <= ${statementNowOf(context)} - ${millis(dedupeFor.ms)})`;
}

/** The statement `insertTask` runs, for drivers that can only batch (neon-http's `db.batch`). */
export function insertTaskStatement(context: StorageContext, task: NewTask): SQL {
  return insertOne(context, task, null);
}

/**
 * Inserts many tasks in one statement (no dedupe keys) and returns them in input order; with
 * `claim`, the first `claim.first` are claimed by the insert.
 */
export async function insertTasks(
  context: StorageContext,
  tasks: NewTask[],
  claim: (InsertClaim & { first: number }) | null = null,
): Promise<InsertedTask[]> {
  if (tasks.length === 0) return [];
  const claimed = claim && claim.first > 0 ? { ...claim, leaseToken: freshLeaseToken() } : undefined;
  const returning = claimed
    ? sql`${insertClaimedColumns('task')}, task.id as position`
    : sql`task.id as position`;
  const rows = await queryRows<InsertClaimedColumns & { position: string }>(
    context.db,
    'enqueueMany',
    sql`with inserted as (${insertSelect(context, tasks, null, returning, claimed)})
      select ${claimed ? sql`inserted.*` : sql`position::text as id`} from inserted order by inserted.position`,
  );
  // No dedupe keys here, so every task was inserted, in input order.
  return rows.map((row, index) => ({
    id: Number(row.id),
    claimed:
      claimed && row.lease_expires_at !== null
        ? insertClaimedRow(tasks[index]!, row, claimed.leaseToken)
        : null,
  }));
}

/** The children part of a completion statement: inserted only if the `done` CTE updated a row. */
export function insertChildren(context: StorageContext, children: NewTask[]): SQL {
  return insertSelect(context, children, sql`where exists (select 1 from done)`, sql`task.id`);
}
