/**
 * A Worker as a user of the published packages writes it: `handle` from @gta/cloudflare over a
 * plain `fetch`, each request's manager on the dry run's memory table. `POST /greet` enqueues a
 * task in a transaction and answers with its id while the task runs in `ctx.waitUntil`;
 * `GET /tasks/:id` answers with that task's status.
 */
import { getManager, handle, type Invocation, type WorkerContext } from '@gta/cloudflare';
import { createTaskManager, defineTask } from '@gta/core';
import { memoryTaskTable } from '@gta/core/testing';

// One table for the isolate, as one database for every invocation: the next request finds the task.
const table = memoryTaskTable();
const greeted: string[] = [];

const greet = defineTask({
  key: 'greet',
  handler: async ({ name }: { name: string }) => {
    greeted.push(name);
  },
});

function createManager(_env: unknown, invocation: Invocation) {
  return createTaskManager({ dryRun: table, tasks: [greet], ...invocation });
}

export default handle(createManager, {
  async fetch(request: Request, _env: unknown, ctx: WorkerContext): Promise<Response> {
    const manager = getManager<ReturnType<typeof createManager>>(ctx);
    const url = new URL(request.url);
    if (request.method === 'POST' && url.pathname === '/greet') {
      const id = await manager.transaction((tx) => manager.enqueue(greet, { name: 'ada' }, { tx }));
      return Response.json({ id });
    }
    const task = await manager.getTask(Number(url.pathname.slice('/tasks/'.length)));
    return Response.json(task && { status: task.status, attempts: task.attempts, greeted });
  },
});
