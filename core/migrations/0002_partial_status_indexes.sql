-- Every status change writes a new entry into each index whose predicate the new row version
-- matches, so a full index on status taxed every claim and completion. Only finished tasks are
-- looked up by time, so only they are indexed by time.
-- Cleanup of succeeded tasks by age.
CREATE INDEX IF NOT EXISTS "gta_tasks_succeeded_idx" ON "gta_tasks" ("updated_at") WHERE "status" = 'succeeded';
--> statement-breakpoint
-- The abnormal-task check's newly failed tasks.
CREATE INDEX IF NOT EXISTS "gta_tasks_failed_idx" ON "gta_tasks" ("finished_at") WHERE "status" = 'failed';
--> statement-breakpoint
-- The abnormal check's initTimeoutSensitive tasks that waited too long (no scanner starts them).
CREATE INDEX IF NOT EXISTS "gta_tasks_sensitive_due_idx" ON "gta_tasks" ("run_at") WHERE "status" = 'initialized' AND "init_timeout_sensitive";
--> statement-breakpoint
DROP INDEX IF EXISTS "gta_tasks_status_updated_idx";
