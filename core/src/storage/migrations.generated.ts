// Generated from core/migrations/*.sql by scripts/generate-migrations.mjs. Do not edit.
export interface EmbeddedMigration {
  version: number;
  name: string;
  /** Statements written for the default table name "gta_tasks". */
  statements: readonly string[];
}

export const MIGRATIONS: readonly EmbeddedMigration[] = [
  {
    "version": 1,
    "name": "create_tasks",
    "statements": [
      "-- The task table. Every time is written from the database clock (or an injected test clock).\nCREATE TABLE IF NOT EXISTS \"gta_tasks\" (\n  \"id\" bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,\n  \"task_key\" varchar(64) NOT NULL,\n  \"status\" text NOT NULL DEFAULT 'initialized'\n    CONSTRAINT \"gta_tasks_status_check\" CHECK (\"status\" IN ('initialized', 'running', 'succeeded', 'failed')),\n  \"arg\" jsonb NOT NULL,\n  \"context\" text,\n  \"attempts\" integer NOT NULL DEFAULT 0,\n  \"max_attempts\" integer NOT NULL DEFAULT 1,\n  \"timeout_ms\" integer NOT NULL,\n  \"init_timeout_sensitive\" boolean NOT NULL DEFAULT false,\n  \"run_at\" timestamptz NOT NULL,\n  \"lease_expires_at\" timestamptz,\n  \"lease_token\" uuid,\n  \"last_error\" text,\n  \"dedupe_key\" text,\n  \"sequence_key\" text,\n  \"parent_id\" bigint,\n  \"created_at\" timestamptz NOT NULL,\n  \"updated_at\" timestamptz NOT NULL,\n  \"started_at\" timestamptz,\n  \"finished_at\" timestamptz\n);",
      "-- Claims: due tasks in run order.\nCREATE INDEX IF NOT EXISTS \"gta_tasks_due_idx\" ON \"gta_tasks\" (\"run_at\", \"id\") WHERE \"status\" = 'initialized';",
      "-- Lease rescue and the running-too-long check.\nCREATE INDEX IF NOT EXISTS \"gta_tasks_lease_idx\" ON \"gta_tasks\" (\"lease_expires_at\") WHERE \"status\" = 'running';",
      "-- One stored task per (task key, dedupe key); built-in maintenance rows are keyed the same way.\nCREATE UNIQUE INDEX IF NOT EXISTS \"gta_tasks_dedupe_idx\" ON \"gta_tasks\" (\"task_key\", \"dedupe_key\") WHERE \"dedupe_key\" IS NOT NULL;",
      "-- Sequence keys: the earliest unfinished task of a key is the only one that may run.\nCREATE INDEX IF NOT EXISTS \"gta_tasks_sequence_idx\" ON \"gta_tasks\" (\"sequence_key\", \"id\") WHERE \"sequence_key\" IS NOT NULL AND \"status\" IN ('initialized', 'running');",
      "-- Cleanup, failed-task reports and the dashboard's lists.\nCREATE INDEX IF NOT EXISTS \"gta_tasks_status_updated_idx\" ON \"gta_tasks\" (\"status\", \"updated_at\");"
    ]
  },
  {
    "version": 2,
    "name": "partial_status_indexes",
    "statements": [
      "-- Every status change writes a new entry into each index whose predicate the new row version\n-- matches, so a full index on status taxed every claim and completion. Only finished tasks are\n-- looked up by time, so only they are indexed by time.\n-- Cleanup of succeeded tasks by age.\nCREATE INDEX IF NOT EXISTS \"gta_tasks_succeeded_idx\" ON \"gta_tasks\" (\"updated_at\") WHERE \"status\" = 'succeeded';",
      "-- The abnormal-task check's newly failed tasks.\nCREATE INDEX IF NOT EXISTS \"gta_tasks_failed_idx\" ON \"gta_tasks\" (\"finished_at\") WHERE \"status\" = 'failed';",
      "-- The abnormal check's initTimeoutSensitive tasks that waited too long (no scanner starts them).\nCREATE INDEX IF NOT EXISTS \"gta_tasks_sensitive_due_idx\" ON \"gta_tasks\" (\"run_at\") WHERE \"status\" = 'initialized' AND \"init_timeout_sensitive\";",
      "DROP INDEX IF EXISTS \"gta_tasks_status_updated_idx\";"
    ]
  },
  {
    "version": 3,
    "name": "guarantees",
    "statements": [
      "-- A sequence key has at most one running task. The claim checks this against what its snapshot\n-- sees; this index makes it hold against what no snapshot can see yet (a claim of another task of\n-- the key that commits while this one runs): the later of two such claims waits for the earlier,\n-- then fails and is sent again.\nCREATE UNIQUE INDEX IF NOT EXISTS \"gta_tasks_sequence_running_idx\" ON \"gta_tasks\" (\"sequence_key\") WHERE \"sequence_key\" IS NOT NULL AND \"status\" = 'running';",
      "-- Leases that expired before their attempt's start was recorded: the attempt was given back, not\n-- counted. A task with any is started only once its start is recorded, so a handler that ends its\n-- invocation before its start record is written cannot run for ever.\nALTER TABLE \"gta_tasks\" ADD COLUMN IF NOT EXISTS \"unstarted_expiries\" integer NOT NULL DEFAULT 0;",
      "-- The transaction that made a task `failed`, so that each maintenance round reports exactly the\n-- failures committed since the previous round's snapshot, however late a failure commits.\nALTER TABLE \"gta_tasks\" ADD COLUMN IF NOT EXISTS \"failure_xid\" bigint;",
      "-- The rounds' newly failed tasks, found by transaction id.\nCREATE INDEX IF NOT EXISTS \"gta_tasks_failure_xid_idx\" ON \"gta_tasks\" (\"failure_xid\") WHERE \"status\" = 'failed';"
    ]
  },
  {
    "version": 4,
    "name": "priorities",
    "statements": [
      "-- Priorities: among due tasks, higher first; within a priority, earlier run_at, then enqueue order.\nALTER TABLE \"gta_tasks\" ADD COLUMN IF NOT EXISTS \"priority\" integer NOT NULL DEFAULT 0;",
      "-- Claims: due tasks in claim order. Replaces the due index, which had no priority.\nCREATE INDEX IF NOT EXISTS \"gta_tasks_ready_idx\" ON \"gta_tasks\" (\"priority\" DESC, \"run_at\", \"id\") WHERE \"status\" = 'initialized';",
      "DROP INDEX IF EXISTS \"gta_tasks_due_idx\";"
    ]
  },
  {
    "version": 5,
    "name": "cancellation",
    "statements": [
      "-- `cancelled`, a terminal state of its own: an operator's cancel, or a handler's thrown CancelTask.\n-- NOT VALID: the rows already there met the stricter check before it, so none is read again.\nALTER TABLE \"gta_tasks\" DROP CONSTRAINT IF EXISTS \"gta_tasks_status_check\";",
      "ALTER TABLE \"gta_tasks\" ADD CONSTRAINT \"gta_tasks_status_check\" CHECK (\"status\" IN ('initialized', 'running', 'succeeded', 'failed', 'cancelled')) NOT VALID;",
      "-- A cancel requested for a running task: it stays `running` (holding its sequence key and its\n-- slot) until its handler settled or its lease expired, then turns `cancelled`.\nALTER TABLE \"gta_tasks\" ADD COLUMN IF NOT EXISTS \"cancel_reason\" text;"
    ]
  },
  {
    "version": 6,
    "name": "group_limits",
    "statements": [
      "-- Concurrency and rate limits per group. A task's groups are written at enqueue (null: the task\n-- has no such limit, '' : the task's one group); the limits themselves are the definitions' and\n-- enter with each claim.\nALTER TABLE \"gta_tasks\" ADD COLUMN IF NOT EXISTS \"concurrency_key\" text;",
      "ALTER TABLE \"gta_tasks\" ADD COLUMN IF NOT EXISTS \"rate_key\" text;",
      "-- The slot (0 to limit - 1) a running task holds in its concurrency group.\nALTER TABLE \"gta_tasks\" ADD COLUMN IF NOT EXISTS \"concurrency_slot\" integer;",
      "-- No two running tasks hold one slot of a group: a claim that raced another for a slot is\n-- refused and sent again, as for sequence keys. Also counts a group's running tasks.\nCREATE UNIQUE INDEX IF NOT EXISTS \"gta_tasks_concurrency_running_idx\" ON \"gta_tasks\" (\"task_key\", \"concurrency_key\", \"concurrency_slot\") WHERE \"concurrency_slot\" IS NOT NULL AND \"status\" = 'running';",
      "-- A rate-limited group's slots (0 to limit - 1): a start takes a slot whose free_at has passed and\n-- sets it one period ahead, so no window of a period holds more starts than the group has slots.\nCREATE TABLE IF NOT EXISTS \"gta_tasks_rate_slots\" (\n  \"task_key\" varchar(64) NOT NULL,\n  \"rate_key\" text NOT NULL,\n  \"slot\" integer NOT NULL,\n  \"free_at\" timestamptz NOT NULL,\n  \"task_id\" bigint NOT NULL,\n  PRIMARY KEY (\"task_key\", \"rate_key\", \"slot\")\n);",
      "-- A claim finds a group's free slots, those free longest first, without walking its busy ones.\nCREATE INDEX IF NOT EXISTS \"gta_tasks_rate_slots_free_idx\" ON \"gta_tasks_rate_slots\" (\"task_key\", \"rate_key\", \"free_at\");"
    ]
  },
  {
    "version": 7,
    "name": "schedules",
    "statements": [
      "-- Recurring tasks. A fired task carries its schedule and the slot it fired for; the schedule's own\n-- row keeps the last slot fired, which each firing moves forward by compare-and-set, so no slot\n-- fires twice whatever number of instances tick at once.\nALTER TABLE \"gta_tasks\" ADD COLUMN IF NOT EXISTS \"schedule_id\" varchar(255);",
      "ALTER TABLE \"gta_tasks\" ADD COLUMN IF NOT EXISTS \"scheduled_for\" timestamptz;",
      "-- One task per (schedule, slot), while the task is kept: a second firing of a slot inserts nothing.\n-- Also finds a schedule's latest task for the operator's list.\nCREATE UNIQUE INDEX IF NOT EXISTS \"gta_tasks_schedule_slot_idx\" ON \"gta_tasks\" (\"schedule_id\", \"scheduled_for\") WHERE \"schedule_id\" IS NOT NULL;",
      "CREATE TABLE IF NOT EXISTS \"gta_tasks_schedules\" (\n  \"id\" varchar(255) PRIMARY KEY,\n  \"task_key\" varchar(64) NOT NULL,\n  \"cron\" text NOT NULL,\n  \"timezone\" text NOT NULL,\n  -- The newest slot fired or passed over: only later slots may fire.\n  \"last_slot\" timestamptz NOT NULL,\n  \"paused\" boolean NOT NULL DEFAULT false,\n  \"created_at\" timestamptz NOT NULL,\n  \"updated_at\" timestamptz NOT NULL\n);"
    ]
  },
  {
    "version": 8,
    "name": "dedupe_release",
    "statements": [
      "-- A dedupe key its task no longer holds: an enqueue that asked for `dedupeFor: 'unfinished'` or\n-- `{ ms }` found the task past that and released the key (moved here, out of the unique index),\n-- so that the key's history stays readable on the old task.\nALTER TABLE \"gta_tasks\" ADD COLUMN IF NOT EXISTS \"released_dedupe_key\" text;"
    ]
  },
  {
    "version": 9,
    "name": "attempt_history",
    "statements": [
      "-- Every attempt that ended, oldest first, at most 25 (see core/src/storage/history.ts): a forced\n-- rerun keeps them, where it used to leave only the latest attempt's error.\nALTER TABLE \"gta_tasks\" ADD COLUMN IF NOT EXISTS \"attempt_history\" jsonb;"
    ]
  }
];
