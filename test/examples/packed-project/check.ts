/**
 * Uses every entry point's declarations as a user's code would, so that a broken or missing
 * declaration in a tarball fails the type-check. Each `@ts-expect-error` proves a type is real:
 * over declarations that collapsed to `any`, the line would compile and the directive would fail.
 */
import {
  type LambdaContext,
  handleCron as lambdaCron,
  handle as lambdaHandle,
  type ScheduledEvent,
} from '@gta/aws-lambda';
import { type GtaVariables, gta, handleCron as workerCron } from '@gta/cloudflare';
import {
  createTaskManager,
  defineTask,
  ERROR_CODES,
  type GtaErrorCode,
  isGtaError,
  type TaskId,
  type TaskRow,
  type TickReport,
} from '@gta/core';
import { createAdminApp } from '@gta/core/admin';
import { drain, enqueuedTasks, memoryTaskTable } from '@gta/core/testing';
import { handleCron as vercelCron, handle as vercelHandle } from '@gta/vercel';

const greet = defineTask({ key: 'greet', handler: async (_arg: { name: string }) => {} });
const manager = createTaskManager({ dryRun: memoryTaskTable(), tasks: [greet] });

export const id: Promise<TaskId> = manager.enqueue(greet, { name: 'ada' });
// @ts-expect-error: a task's argument is typed by its handler
export const wrongArgument = manager.enqueue(greet, { name: 1 });
export const report: Promise<TickReport> = drain(manager);
// @ts-expect-error: drain reports a tick, not rows
export const notRows: Promise<TaskRow[]> = drain(manager);
export const rows: Promise<TaskRow[]> = enqueuedTasks(manager, greet);
export const code: GtaErrorCode = ERROR_CODES.invalidOption;
export const recognised: boolean = isGtaError(new Error('not ours'));

export const admin: (request: Request) => Response | Promise<Response> = createAdminApp(manager, {
  token: 'a-token-of-sixteen-characters',
}).fetch;
// @ts-expect-error: insecureDisableAuth is `true` or absent
createAdminApp(manager, { insecureDisableAuth: false });

export const middleware = gta<typeof manager>();
export type WorkerVariables = GtaVariables<typeof manager>;
export const scheduled = workerCron(() => manager);
// @ts-expect-error: a Worker's factory builds a manager
workerCron(() => 'not a manager');

export const vercelRoute: (request: Request) => Promise<Response> = vercelCron(manager, { maxDuration: 60 });
export const vercelApp = vercelHandle(manager, { fetch: () => new Response('ok') });
// @ts-expect-error: Vercel's cron route takes the manager itself, not a factory
vercelCron(() => manager);

export const lambdaTick: (event: ScheduledEvent, context: LambdaContext) => Promise<TickReport> =
  lambdaCron(manager);
// @ts-expect-error: Lambda's cron handler takes a manager
lambdaCron({});
export const lambdaHttp = lambdaHandle(manager, async (_event: { path: string }, _context: object) => ({
  statusCode: 200,
}));
