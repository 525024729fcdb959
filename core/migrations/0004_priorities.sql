-- Priorities: among due tasks, higher first; within a priority, earlier run_at, then enqueue order.
ALTER TABLE "gta_tasks" ADD COLUMN IF NOT EXISTS "priority" integer NOT NULL DEFAULT 0;
--> statement-breakpoint
-- Claims: due tasks in claim order. Replaces the due index, which had no priority.
CREATE INDEX IF NOT EXISTS "gta_tasks_ready_idx" ON "gta_tasks" ("priority" DESC, "run_at", "id") WHERE "status" = 'initialized';
--> statement-breakpoint
DROP INDEX IF EXISTS "gta_tasks_due_idx";
