/**
 * /api/admin/*: the operator's view, behind `Authorization: Bearer $ADMIN_TOKEN` (compared in
 * constant time by Hono's bearer-auth). vercel.json rewrites every /api/admin/… path here.
 */
import { ERROR_CODES, isGtaError, isTaskStatus } from '@gta/core';
import { Hono } from 'hono';
import { bearerAuth } from 'hono/bearer-auth';
import { HTTPException } from 'hono/http-exception';
import { manager } from '../src/manager.js';

const app = new Hono().basePath('/api/admin');

app.use('*', async (c, next) => {
  const token = process.env.ADMIN_TOKEN;
  if (!token) return c.body(null, 401);
  return bearerAuth({ token })(c, next);
});

app.get('/stats', async (c) => c.json(await manager.stats()));

app.get('/tasks', async (c) => {
  const status = c.req.query('status');
  if (status !== undefined && !isTaskStatus(status)) return c.json({ error: 'unknown status' }, 400);
  return c.json(await manager.listTasks(status === undefined ? {} : { status }));
});

app.get('/tasks/unsuccessful', async (c) => c.json(await manager.queryUnsuccessfulTasks()));

app.post('/tasks/:id/rerun', async (c) => {
  const id = Number(c.req.param('id'));
  const task = Number.isSafeInteger(id) && id > 0 ? await manager.getTask(id) : null;
  if (!task) return c.json({ error: 'no such task' }, 404);
  return c.json({ rerun: (await manager.forceRerunTasks([id], task.status)) === 1 });
});

app.onError((error, c) => {
  if (error instanceof HTTPException) return error.getResponse();
  if (isGtaError(error, ERROR_CODES.invalidArgument)) return c.json({ error: error.message }, 400);
  manager.options.logger.error({ error: String(error) }, 'admin request failed');
  return c.json({ error: 'internal error' }, 500);
});

export const GET = (request: Request) => app.fetch(request);
export const POST = GET;
