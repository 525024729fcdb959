/**
 * Inserting tasks: one, many, or the nested children of a task (inside its completion).
 * @module
 */
import { type SQL, sql } from 'drizzle-orm';
import { ERROR_CODES, GtaError } from '../errors.js';
import type { TaskId } from '../types.js';
import { jsonParam, nowOf, queryRows, type StorageContext, tableOf } from './sql.js';

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
  sequenceKey: string | null;
  parentId: TaskId | null;
}

/**
 * The insert of `tasks` in input order, as one statement selecting from a jsonb array: rows take
 * identity values in that order, so sorted ids match the input. Dedupe conflicts insert nothing.
 */
function insertSelect(context: StorageContext, tasks: NewTask[], guard: SQL | null): SQL {
  const now = nowOf(context);
  const payload = tasks.map((task) => ({ ...task, arg: JSON.parse(task.arg) as unknown }));
  return sql`insert into ${tableOf(context)}
      (task_key, arg, context, max_attempts, timeout_ms, init_timeout_sensitive, run_at,
       dedupe_key, sequence_key, parent_id, created_at, updated_at)
    select v->>'key', v->'arg', v->>'context', (v->>'maxAttempts')::int, (v->>'timeoutMs')::int,
       (v->>'initTimeoutSensitive')::boolean,
       coalesce((v->>'runAt')::timestamptz, ${now} + (v->>'delayMs')::float8 * interval '1 millisecond'),
       v->>'dedupeKey', v->>'sequenceKey', (v->>'parentId')::bigint, ${now}, ${now}
    from jsonb_array_elements(${jsonParam(payload)}) with ordinality as input(v, ord)
    ${guard ?? sql``}
    order by input.ord
    on conflict (task_key, dedupe_key) where dedupe_key is not null do nothing
    returning id`;
}

/**
 * The insert of one task as a single VALUES row (planned far faster than a select from a jsonb
 * array). A dedupe conflict inserts nothing.
 */
function insertOne(context: StorageContext, task: NewTask): SQL {
  const now = nowOf(context);
  return sql`insert into ${tableOf(context)}
      (task_key, arg, context, max_attempts, timeout_ms, init_timeout_sensitive, run_at,
       dedupe_key, sequence_key, parent_id, created_at, updated_at)
    values (${task.key}, ${task.arg}::jsonb, ${task.context}, ${task.maxAttempts}::int, ${task.timeoutMs}::int,
       ${task.initTimeoutSensitive}::boolean,
       coalesce(${task.runAt}::timestamptz, ${now} + ${task.delayMs}::float8 * interval '1 millisecond'),
       ${task.dedupeKey}, ${task.sequenceKey}, ${task.parentId}::bigint, ${now}, ${now})
    on conflict (task_key, dedupe_key) where dedupe_key is not null do nothing`;
}

/**
 * Inserts one task and returns its id; with a dedupe key already stored, returns that task's id
 * and `inserted: false`. Retries once when a concurrent insert of the same dedupe key committed
 * after this statement's snapshot was taken.
 */
export async function insertTask(
  context: StorageContext,
  task: NewTask,
): Promise<{ id: TaskId; inserted: boolean }> {
  if (task.dedupeKey === null) {
    const [row] = await queryRows<{ id: string }>(
      context.db,
      'enqueue',
      sql`${insertOne(context, task)} returning id::text as id`,
    );
    return { id: Number(row!.id), inserted: true };
  }
  const table = tableOf(context);
  const statement = sql`with inserted as (${insertOne(context, task)} returning id)
    select id::text as id, true as inserted from inserted
    union all
    select id::text, false from ${table}
      where task_key = ${task.key} and dedupe_key = ${task.dedupeKey} and not exists (select 1 from inserted)
    limit 1`;
  for (let attempt = 0; attempt < 3; attempt++) {
    const [row] = await queryRows<{ id: string; inserted: boolean }>(context.db, 'enqueue', statement);
    if (row) return { id: Number(row.id), inserted: Boolean(row.inserted) };
  }
  throw new GtaError(
    ERROR_CODES.storage,
    `enqueue of ${task.key}: dedupe key ${String(task.dedupeKey)} was neither inserted nor found`,
  );
}

/** The statement `insertTask` runs, for drivers that can only batch (neon-http's `db.batch`). */
export function insertTaskStatement(context: StorageContext, task: NewTask): SQL {
  return sql`${insertOne(context, task)} returning id`;
}

/** Inserts many tasks in one statement and returns their ids in input order (no dedupe keys). */
export async function insertTasks(context: StorageContext, tasks: NewTask[]): Promise<TaskId[]> {
  if (tasks.length === 0) return [];
  const rows = await queryRows<{ id: string }>(
    context.db,
    'enqueueMany',
    sql`with inserted as (${insertSelect(context, tasks, null)}) select id::text as id from inserted order by inserted.id`,
  );
  return rows.map((row) => Number(row.id));
}

/** The children part of a completion statement: inserted only if the `done` CTE updated a row. */
export function insertChildren(context: StorageContext, children: NewTask[]): SQL {
  return insertSelect(context, children, sql`where exists (select 1 from done)`);
}
