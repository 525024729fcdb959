/**
 * The task table as a drizzle schema, for users who manage migrations with drizzle-kit or query
 * the table themselves. gta's own statements live in the storage module.
 * @module
 */
import { sql } from 'drizzle-orm';
import {
  bigint,
  boolean,
  index,
  integer,
  jsonb,
  pgTable,
  primaryKey,
  text,
  timestamp,
  uniqueIndex,
  uuid,
  varchar,
} from 'drizzle-orm/pg-core';
import { DEFAULT_TABLE } from './options.js';

/**
 * The drizzle table for a task table named `name`.
 * @example export const tasks = gtaTasksTable(); // in your drizzle schema file
 */
export function gtaTasksTable(name: string = DEFAULT_TABLE) {
  return pgTable(
    name,
    {
      id: bigint('id', { mode: 'number' }).primaryKey().generatedAlwaysAsIdentity(),
      taskKey: varchar('task_key', { length: 64 }).notNull(),
      status: text('status', { enum: ['initialized', 'running', 'succeeded', 'failed', 'cancelled'] })
        .notNull()
        .default('initialized'),
      arg: jsonb('arg').notNull(),
      context: text('context'),
      attempts: integer('attempts').notNull().default(0),
      maxAttempts: integer('max_attempts').notNull().default(1),
      timeoutMs: integer('timeout_ms').notNull(),
      initTimeoutSensitive: boolean('init_timeout_sensitive').notNull().default(false),
      runAt: timestamp('run_at', { withTimezone: true }).notNull(),
      leaseExpiresAt: timestamp('lease_expires_at', { withTimezone: true }),
      leaseToken: uuid('lease_token'),
      lastError: text('last_error'),
      dedupeKey: text('dedupe_key'),
      sequenceKey: text('sequence_key'),
      parentId: bigint('parent_id', { mode: 'number' }),
      createdAt: timestamp('created_at', { withTimezone: true }).notNull(),
      updatedAt: timestamp('updated_at', { withTimezone: true }).notNull(),
      startedAt: timestamp('started_at', { withTimezone: true }),
      finishedAt: timestamp('finished_at', { withTimezone: true }),
      unstartedExpiries: integer('unstarted_expiries').notNull().default(0),
      failureXid: bigint('failure_xid', { mode: 'number' }),
      priority: integer('priority').notNull().default(0),
      cancelReason: text('cancel_reason'),
      concurrencyKey: text('concurrency_key'),
      rateKey: text('rate_key'),
      concurrencySlot: integer('concurrency_slot'),
      scheduleId: varchar('schedule_id', { length: 255 }),
      scheduledFor: timestamp('scheduled_for', { withTimezone: true }),
      releasedDedupeKey: text('released_dedupe_key'),
      attemptHistory: jsonb('attempt_history'),
    },
    (table) => [
      index(`${name}_ready_idx`)
        .on(table.priority.desc(), table.runAt, table.id)
        .where(sql`"status" = 'initialized'`),
      index(`${name}_lease_idx`).on(table.leaseExpiresAt).where(sql`"status" = 'running'`),
      index(`${name}_dedupe_idx`).on(table.taskKey, table.dedupeKey).where(sql`"dedupe_key" IS NOT NULL`),
      index(`${name}_sequence_idx`)
        .on(table.sequenceKey, table.id)
        .where(sql`"sequence_key" IS NOT NULL AND "status" IN ('initialized', 'running')`),
      index(`${name}_succeeded_idx`).on(table.updatedAt).where(sql`"status" = 'succeeded'`),
      index(`${name}_failed_idx`).on(table.finishedAt).where(sql`"status" = 'failed'`),
      index(`${name}_sensitive_due_idx`)
        .on(table.runAt)
        .where(sql`"status" = 'initialized' AND "init_timeout_sensitive"`),
      uniqueIndex(`${name}_sequence_running_idx`)
        .on(table.sequenceKey)
        .where(sql`"sequence_key" IS NOT NULL AND "status" = 'running'`),
      index(`${name}_failure_xid_idx`).on(table.failureXid).where(sql`"status" = 'failed'`),
      uniqueIndex(`${name}_concurrency_running_idx`)
        .on(table.taskKey, table.concurrencyKey, table.concurrencySlot)
        .where(sql`"concurrency_slot" IS NOT NULL AND "status" = 'running'`),
      uniqueIndex(`${name}_schedule_slot_idx`)
        .on(table.scheduleId, table.scheduledFor)
        .where(sql`"schedule_id" IS NOT NULL`),
    ],
  );
}

/**
 * The drizzle table of the rate-limit slots of the task table named `name`: one row per slot of a
 * rate-limited group, free again at `free_at`.
 */
export function gtaRateSlotsTable(name: string = DEFAULT_TABLE) {
  return pgTable(
    `${name}_rate_slots`,
    {
      taskKey: varchar('task_key', { length: 64 }).notNull(),
      rateKey: text('rate_key').notNull(),
      slot: integer('slot').notNull(),
      freeAt: timestamp('free_at', { withTimezone: true }).notNull(),
      taskId: bigint('task_id', { mode: 'number' }).notNull(),
    },
    (table) => [
      primaryKey({ columns: [table.taskKey, table.rateKey, table.slot] }),
      index(`${name}_rate_slots_free_idx`).on(table.taskKey, table.rateKey, table.freeAt),
    ],
  );
}

/**
 * The drizzle table of the schedules of the task table named `name`: one row per schedule id, with
 * the newest slot fired or passed over and whether it is paused.
 */
export function gtaSchedulesTable(name: string = DEFAULT_TABLE) {
  return pgTable(`${name}_schedules`, {
    id: varchar('id', { length: 255 }).primaryKey(),
    taskKey: varchar('task_key', { length: 64 }).notNull(),
    cron: text('cron').notNull(),
    timezone: text('timezone').notNull(),
    lastSlot: timestamp('last_slot', { withTimezone: true }).notNull(),
    paused: boolean('paused').notNull().default(false),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull(),
    updatedAt: timestamp('updated_at', { withTimezone: true }).notNull(),
  });
}
