-- Concurrency and rate limits per group. A task's groups are written at enqueue (null: the task
-- has no such limit, '' : the task's one group); the limits themselves are the definitions' and
-- enter with each claim.
ALTER TABLE "gta_tasks" ADD COLUMN IF NOT EXISTS "concurrency_key" text;
--> statement-breakpoint
ALTER TABLE "gta_tasks" ADD COLUMN IF NOT EXISTS "rate_key" text;
--> statement-breakpoint
-- The slot (0 to limit - 1) a running task holds in its concurrency group.
ALTER TABLE "gta_tasks" ADD COLUMN IF NOT EXISTS "concurrency_slot" integer;
--> statement-breakpoint
-- No two running tasks hold one slot of a group: a claim that raced another for a slot is
-- refused and sent again, as for sequence keys. Also counts a group's running tasks.
CREATE UNIQUE INDEX IF NOT EXISTS "gta_tasks_concurrency_running_idx" ON "gta_tasks" ("task_key", "concurrency_key", "concurrency_slot") WHERE "concurrency_slot" IS NOT NULL AND "status" = 'running';
--> statement-breakpoint
-- A rate-limited group's slots (0 to limit - 1): a start takes a slot whose free_at has passed and
-- sets it one period ahead, so no window of a period holds more starts than the group has slots.
CREATE TABLE IF NOT EXISTS "gta_tasks_rate_slots" (
  "task_key" varchar(64) NOT NULL,
  "rate_key" text NOT NULL,
  "slot" integer NOT NULL,
  "free_at" timestamptz NOT NULL,
  "task_id" bigint NOT NULL,
  PRIMARY KEY ("task_key", "rate_key", "slot")
);
--> statement-breakpoint
-- A claim finds a group's free slots, those free longest first, without walking its busy ones.
CREATE INDEX IF NOT EXISTS "gta_tasks_rate_slots_free_idx" ON "gta_tasks_rate_slots" ("task_key", "rate_key", "free_at");
