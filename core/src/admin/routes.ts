/**
 * The JSON API over the manager's operator methods. Every input arrives validated (see
 * `schemas.ts`); every statement runs through the storage module, so no SQL is built here.
 * @module
 */
import { type Context, Hono } from 'hono';
import { ERROR_CODES, isGtaError } from '../errors.js';
import type { TaskManager } from '../manager.js';
import type { ListTasksFilter, TaskId, WaitUntil } from '../types.js';
import type { AdminEnv } from './env.js';
import { errorJson } from './responses.js';
import {
  abnormalQuery,
  cancelBody,
  emptyBody,
  listTasksQuery,
  rerunBody,
  rerunOneBody,
  scheduleIdParams,
  statsQuery,
  taskIdParams,
  tickBody,
  unsuccessfulQuery,
} from './schemas.js';
import { validate } from './validate.js';

const DEFAULT_CANCEL_REASON = 'cancelled by an operator through the admin API';

/** What a schedule's task may refuse its argument with: the message names the input, never SQL. */
const ARGUMENT_REFUSALS = [
  ERROR_CODES.schemaRejected,
  ERROR_CODES.notSerializable,
  ERROR_CODES.argumentTooLarge,
] as const;

/**
 * The runtime's `waitUntil` for this request (a Worker's or an edge function's execution context,
 * as Hono hands it over), so that work started here outlives the response; undefined elsewhere.
 */
function waitUntilOf(c: Context<AdminEnv, string, any>): WaitUntil | undefined {
  let context: { waitUntil?: unknown };
  try {
    context = c.executionCtx;
  } catch {
    // Hono throws when the request came without one (Node, Lambda).
    return undefined;
  }
  if (typeof context?.waitUntil !== 'function') return undefined;
  return (promise) => (context.waitUntil as WaitUntil).call(context, promise);
}

export function apiRoutes(manager: TaskManager<any>): Hono<AdminEnv> {
  const api = new Hono<AdminEnv>();

  /** 404 when the task does not exist, else 409 naming the status it is in. */
  async function refusal(c: Context<AdminEnv, string, any>, id: TaskId, wanted: string) {
    const task = await manager.getTask(id);
    if (!task) return errorJson(c, 404, 'not_found', `there is no task ${id}`);
    return errorJson(c, 409, 'wrong_status', `task ${id} is ${task.status}; ${wanted}`);
  }

  api.get('/tasks', validate('query', listTasksQuery), async (c) => {
    const { limit, status, beforeId, ...ranges } = c.req.valid('query');
    const filter: ListTasksFilter = { limit: limit + 1 };
    if (status !== undefined) filter.status = status;
    if (beforeId !== undefined) filter.beforeId = beforeId;
    for (const [name, value] of Object.entries(ranges)) {
      if (value !== undefined) Object.assign(filter, { [name]: value });
    }
    // One row past the page says whether another page exists, so the last page is never empty.
    const rows = await manager.listTasks(filter);
    const tasks = rows.slice(0, limit);
    return c.json({ tasks, nextBeforeId: rows.length > limit ? tasks[tasks.length - 1]!.id : null });
  });

  api.get('/tasks/:id', validate('param', taskIdParams), async (c) => {
    const { id } = c.req.valid('param');
    const task = await manager.getTask(id);
    return task ? c.json({ task }) : errorJson(c, 404, 'not_found', `there is no task ${id}`);
  });

  api.post('/tasks/rerun', validate('json', rerunBody), async (c) => {
    const { ids, status } = c.req.valid('json');
    const distinct = [...new Set(ids)];
    const rerun = await manager.forceRerunTasks(distinct, status);
    return c.json({ requested: distinct.length, rerun });
  });

  api.post('/tasks/:id/rerun', validate('param', taskIdParams), validate('json', rerunOneBody), async (c) => {
    const { id } = c.req.valid('param');
    const { status } = c.req.valid('json');
    const rerun = await manager.forceRerunTasks([id], status);
    if (rerun === 0) return refusal(c, id, `it was expected to be ${status}, so it was not rerun`);
    return c.json({ task: await manager.getTask(id) });
  });

  api.post('/tasks/:id/cancel', validate('param', taskIdParams), validate('json', cancelBody), async (c) => {
    const { id } = c.req.valid('param');
    const { reason = DEFAULT_CANCEL_REASON } = c.req.valid('json');
    if (!(await manager.cancelTask(id, reason))) {
      return refusal(
        c,
        id,
        'only a task that has not ended (initialized, or running and not yet asked) can be cancelled',
      );
    }
    return c.json({ task: await manager.getTask(id) });
  });

  async function findSchedule(id: string) {
    return (await manager.listSchedules()).find((schedule) => schedule.id === id);
  }

  /** The schedule after a pause or a resume, or 404 when the manager knew no such schedule. */
  async function scheduleAnswer(c: Context<AdminEnv, string, any>, id: string, known: boolean) {
    const schedule = known ? await findSchedule(id) : undefined;
    if (!schedule) return errorJson(c, 404, 'not_found', `there is no schedule ${JSON.stringify(id)}`);
    return c.json({ schedule });
  }

  api.get('/schedules', async (c) => c.json({ schedules: await manager.listSchedules() }));

  api.post(
    '/schedules/:id/pause',
    validate('param', scheduleIdParams),
    validate('json', emptyBody),
    async (c) => {
      const { id } = c.req.valid('param');
      return scheduleAnswer(c, id, await manager.pauseSchedule(id));
    },
  );

  api.post(
    '/schedules/:id/resume',
    validate('param', scheduleIdParams),
    validate('json', emptyBody),
    async (c) => {
      const { id } = c.req.valid('param');
      return scheduleAnswer(c, id, await manager.resumeSchedule(id));
    },
  );

  api.post(
    '/schedules/:id/trigger',
    validate('param', scheduleIdParams),
    validate('json', emptyBody),
    async (c) => {
      const { id } = c.req.valid('param');
      const waitUntil = waitUntilOf(c);
      let taskId: TaskId;
      try {
        taskId = await manager.triggerSchedule(id, waitUntil ? { waitUntil } : {});
      } catch (error) {
        if (isGtaError(error) && (ARGUMENT_REFUSALS as readonly string[]).includes(error.code)) {
          return errorJson(
            c,
            409,
            'argument_refused',
            `schedule ${JSON.stringify(id)} was not triggered: ${error.message}`,
          );
        }
        // Only a schedule this manager's code does not define is refused so; say whether it exists.
        if (!isGtaError(error, ERROR_CODES.invalidArgument)) throw error;
        const stored = await findSchedule(id);
        if (!stored) return errorJson(c, 404, 'not_found', `there is no schedule ${JSON.stringify(id)}`);
        if (stored.active) throw error;
        return errorJson(
          c,
          409,
          'inactive_schedule',
          `schedule ${JSON.stringify(id)} is no longer defined in this code, so it cannot be triggered`,
        );
      }
      return c.json({ task: await manager.getTask(taskId) });
    },
  );

  api.get('/stats', validate('query', statsQuery), async (c) => {
    const { minutes } = c.req.valid('query');
    const stats = await manager.stats();
    const throughput = await manager.throughput({ minutes });
    const finished = { succeeded: 0, failed: 0 };
    for (const point of throughput) {
      finished.succeeded += point.succeeded;
      finished.failed += point.failed;
    }
    const total = finished.succeeded + finished.failed;
    return c.json({
      ...stats,
      windowMinutes: minutes,
      finished,
      failureRate: total === 0 ? null : finished.failed / total,
      throughput,
    });
  });

  api.get('/abnormal', validate('query', abnormalQuery), async (c) => {
    return c.json({ tasks: await manager.abnormalTasks({ limit: c.req.valid('query').limit }) });
  });

  api.get('/unsuccessful', validate('query', unsuccessfulQuery), async (c) => {
    return c.json({ tasks: await manager.queryUnsuccessfulTasks(c.req.valid('query')) });
  });

  api.post('/tick', validate('json', tickBody), async (c) => {
    const { budgetMs, concurrency } = c.req.valid('json');
    return c.json(await manager.tick(concurrency === undefined ? { budgetMs } : { budgetMs, concurrency }));
  });

  return api;
}
