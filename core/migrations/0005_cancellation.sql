-- `cancelled`, a terminal state of its own: an operator's cancel, or a handler's thrown CancelTask.
-- NOT VALID: the rows already there met the stricter check before it, so none is read again.
ALTER TABLE "gta_tasks" DROP CONSTRAINT IF EXISTS "gta_tasks_status_check";
--> statement-breakpoint
ALTER TABLE "gta_tasks" ADD CONSTRAINT "gta_tasks_status_check" CHECK ("status" IN ('initialized', 'running', 'succeeded', 'failed', 'cancelled')) NOT VALID;
--> statement-breakpoint
-- A cancel requested for a running task: it stays `running` (holding its sequence key and its
-- slot) until its handler settled or its lease expired, then turns `cancelled`.
ALTER TABLE "gta_tasks" ADD COLUMN IF NOT EXISTS "cancel_reason" text;
