-- The task table. Every time is written from the database clock (or an injected test clock).
CREATE TABLE IF NOT EXISTS "gta_tasks" (
  "id" bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  "task_key" varchar(64) NOT NULL,
  "status" text NOT NULL DEFAULT 'initialized'
    CONSTRAINT "gta_tasks_status_check" CHECK ("status" IN ('initialized', 'running', 'succeeded', 'failed')),
  "arg" jsonb NOT NULL,
  "context" text,
  "attempts" integer NOT NULL DEFAULT 0,
  "max_attempts" integer NOT NULL DEFAULT 1,
  "timeout_ms" integer NOT NULL,
  "init_timeout_sensitive" boolean NOT NULL DEFAULT false,
  "run_at" timestamptz NOT NULL,
  "lease_expires_at" timestamptz,
  "lease_token" uuid,
  "last_error" text,
  "dedupe_key" text,
  "sequence_key" text,
  "parent_id" bigint,
  "created_at" timestamptz NOT NULL,
  "updated_at" timestamptz NOT NULL,
  "started_at" timestamptz,
  "finished_at" timestamptz
);
--> statement-breakpoint
-- Claims: due tasks in run order.
CREATE INDEX IF NOT EXISTS "gta_tasks_due_idx" ON "gta_tasks" ("run_at", "id") WHERE "status" = 'initialized';
--> statement-breakpoint
-- Lease rescue and the running-too-long check.
CREATE INDEX IF NOT EXISTS "gta_tasks_lease_idx" ON "gta_tasks" ("lease_expires_at") WHERE "status" = 'running';
--> statement-breakpoint
-- One stored task per (task key, dedupe key); built-in maintenance rows are keyed the same way.
CREATE UNIQUE INDEX IF NOT EXISTS "gta_tasks_dedupe_idx" ON "gta_tasks" ("task_key", "dedupe_key") WHERE "dedupe_key" IS NOT NULL;
--> statement-breakpoint
-- Sequence keys: the earliest unfinished task of a key is the only one that may run.
CREATE INDEX IF NOT EXISTS "gta_tasks_sequence_idx" ON "gta_tasks" ("sequence_key", "id") WHERE "sequence_key" IS NOT NULL AND "status" IN ('initialized', 'running');
--> statement-breakpoint
-- Cleanup, failed-task reports and the dashboard's lists.
CREATE INDEX IF NOT EXISTS "gta_tasks_status_updated_idx" ON "gta_tasks" ("status", "updated_at");
