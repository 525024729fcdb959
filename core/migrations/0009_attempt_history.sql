-- Every attempt that ended, oldest first, at most 25 (see core/src/storage/history.ts): a forced
-- rerun keeps them, where it used to leave only the latest attempt's error.
ALTER TABLE "gta_tasks" ADD COLUMN IF NOT EXISTS "attempt_history" jsonb;
