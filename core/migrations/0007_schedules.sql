-- Recurring tasks. A fired task carries its schedule and the slot it fired for; the schedule's own
-- row keeps the last slot fired, which each firing moves forward by compare-and-set, so no slot
-- fires twice whatever number of instances tick at once.
ALTER TABLE "gta_tasks" ADD COLUMN IF NOT EXISTS "schedule_id" varchar(255);
--> statement-breakpoint
ALTER TABLE "gta_tasks" ADD COLUMN IF NOT EXISTS "scheduled_for" timestamptz;
--> statement-breakpoint
-- One task per (schedule, slot), while the task is kept: a second firing of a slot inserts nothing.
-- Also finds a schedule's latest task for the operator's list.
CREATE UNIQUE INDEX IF NOT EXISTS "gta_tasks_schedule_slot_idx" ON "gta_tasks" ("schedule_id", "scheduled_for") WHERE "schedule_id" IS NOT NULL;
--> statement-breakpoint
CREATE TABLE IF NOT EXISTS "gta_tasks_schedules" (
  "id" varchar(255) PRIMARY KEY,
  "task_key" varchar(64) NOT NULL,
  "cron" text NOT NULL,
  "timezone" text NOT NULL,
  -- The newest slot fired or passed over: only later slots may fire.
  "last_slot" timestamptz NOT NULL,
  "paused" boolean NOT NULL DEFAULT false,
  "created_at" timestamptz NOT NULL,
  "updated_at" timestamptz NOT NULL
);
