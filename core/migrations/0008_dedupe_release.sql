-- A dedupe key its task no longer holds: an enqueue that asked for `dedupeFor: 'unfinished'` or
-- `{ ms }` found the task past that and released the key (moved here, out of the unique index),
-- so that the key's history stays readable on the old task.
ALTER TABLE "gta_tasks" ADD COLUMN IF NOT EXISTS "released_dedupe_key" text;
