/**
 * The Lambda shapes gta reads, declared by shape: the runtime's objects fit, and so do the types
 * of `@types/aws-lambda` and of Hono's `hono/aws-lambda`, without the adapter depending on either.
 * @module
 */

/** The part of the Lambda context object gta reads. */
export interface LambdaContext {
  awsRequestId: string;
  /** Milliseconds until Lambda ends the invocation (the function's timeout). */
  getRemainingTimeInMillis(): number;
}

/** An EventBridge scheduled event: what a rule with a `rate(…)` or `cron(…)` schedule sends. */
export interface ScheduledEvent {
  'detail-type': 'Scheduled Event';
  source: string;
  time?: string;
}

/** Whether `event` is an EventBridge scheduled event rather than an HTTP request (or anything else). */
export function isScheduledEvent(event: unknown): event is ScheduledEvent {
  if (typeof event !== 'object' || event === null) return false;
  const fields = event as Record<string, unknown>;
  return fields['detail-type'] === 'Scheduled Event' && fields.source === 'aws.events';
}
