/**
 * What the chaos producer and workers must agree on. The retry budget and the per-attempt
 * timeout are stored with each task when it is enqueued, so both sides use these.
 */
export const CHAOS_TABLE = 'chaos_tasks';
/** Retries of the chaos task: each kill of its worker mid-run uses one. */
export const CHAOS_RETRY_TIMES = 20;
/** Short, so a killed worker's lease expires (timeout + margin) within seconds. */
export const CHAOS_TASK_TIMEOUT_MS = 2000;
export const CHAOS_LEASE_MARGIN_MS = 300;
