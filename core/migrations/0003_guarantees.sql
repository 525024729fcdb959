-- A sequence key has at most one running task. The claim checks this against what its snapshot
-- sees; this index makes it hold against what no snapshot can see yet (a claim of another task of
-- the key that commits while this one runs): the later of two such claims waits for the earlier,
-- then fails and is sent again.
CREATE UNIQUE INDEX IF NOT EXISTS "gta_tasks_sequence_running_idx" ON "gta_tasks" ("sequence_key") WHERE "sequence_key" IS NOT NULL AND "status" = 'running';
--> statement-breakpoint
-- Leases that expired before their attempt's start was recorded: the attempt was given back, not
-- counted. A task with any is started only once its start is recorded, so a handler that ends its
-- invocation before its start record is written cannot run for ever.
ALTER TABLE "gta_tasks" ADD COLUMN IF NOT EXISTS "unstarted_expiries" integer NOT NULL DEFAULT 0;
--> statement-breakpoint
-- The transaction that made a task `failed`, so that each maintenance round reports exactly the
-- failures committed since the previous round's snapshot, however late a failure commits.
ALTER TABLE "gta_tasks" ADD COLUMN IF NOT EXISTS "failure_xid" bigint;
--> statement-breakpoint
-- The rounds' newly failed tasks, found by transaction id.
CREATE INDEX IF NOT EXISTS "gta_tasks_failure_xid_idx" ON "gta_tasks" ("failure_xid") WHERE "status" = 'failed';
