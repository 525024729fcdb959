/**
 * The OpenAPI 3.1 document of the admin API, generated from the same zod schemas that validate
 * the requests, so the document cannot drift from what the app accepts. Served at `openapi.json`.
 * @module
 */
// A namespace import lets bundlers keep only what is used; zod's `z` object holds every locale.
import * as z from 'zod';
import { SESSION_COOKIE } from './auth.js';
import {
  abnormalQuery,
  abnormalResponse,
  cancelBody,
  emptyBody,
  errorResponse,
  listTasksQuery,
  loginBody,
  MAX_BODY_BYTES,
  rerunBody,
  rerunOneBody,
  rerunResponse,
  scheduleIdParams,
  scheduleListResponse,
  scheduleResponse,
  schemaRegistry,
  statsQuery,
  statsResponse,
  taskIdParams,
  taskListResponse,
  taskResponse,
  tickBody,
  tickResponse,
  unsuccessfulQuery,
  unsuccessfulResponse,
} from './schemas.js';

type JsonObject = Record<string, unknown>;

interface Operation {
  method: 'get' | 'post';
  path: string;
  summary: string;
  description?: string;
  pathParams?: z.ZodObject;
  query?: z.ZodObject;
  body?: z.ZodType;
  /** The success response's schema; null for 204 No Content. */
  response: z.ZodType | null;
  status: 200 | 204;
  errors: (keyof typeof ERROR_MEANINGS)[];
  /** Operations open to requests without credentials (the login exchange). */
  public?: true;
}

const ERROR_MEANINGS = {
  400: 'invalid input: the message and `issues` say which and why',
  401: 'no valid credentials',
  403: 'a cross-site request, or a session request without its X-GTA-CSRF token',
  404: 'no such task or schedule',
  409: 'the task is not in the status the operation needs, or the schedule cannot fire here',
  413: `the body is larger than ${MAX_BODY_BYTES / 1024} KiB`,
  415: 'the body is not application/json',
};

const guarded = [401, 400] as const;
const writes = [401, 403, 400, 413, 415] as const;

const OPERATIONS: Operation[] = [
  {
    method: 'get',
    path: '/api/tasks',
    summary: 'List tasks, newest first, filtered, with keyset pagination',
    query: listTasksQuery,
    response: taskListResponse,
    status: 200,
    errors: [...guarded],
  },
  {
    method: 'get',
    path: '/api/tasks/{id}',
    summary: 'One task: argument, context, attempts, last error, lease and timing',
    pathParams: taskIdParams,
    response: taskResponse,
    status: 200,
    errors: [...guarded, 404],
  },
  {
    method: 'post',
    path: '/api/tasks/rerun',
    summary: 'Force rerun (GTA ForceRerunTasks)',
    description:
      'Moves the listed tasks that are currently in `status` back to `initialized`, due now, with fresh attempts. Tasks in another status are left alone and not counted.',
    body: rerunBody,
    response: rerunResponse,
    status: 200,
    errors: [...writes],
  },
  {
    method: 'post',
    path: '/api/tasks/{id}/rerun',
    summary: 'Force rerun one task expected to be in `status`',
    pathParams: taskIdParams,
    body: rerunOneBody,
    response: taskResponse,
    status: 200,
    errors: [...writes, 404, 409],
  },
  {
    method: 'post',
    path: '/api/tasks/{id}/cancel',
    summary:
      'Cancel a task that has not ended: it becomes `cancelled` with the reason as its last error (a running one once its handler settled)',
    pathParams: taskIdParams,
    body: cancelBody,
    response: taskResponse,
    status: 200,
    errors: [...writes, 404, 409],
  },
  {
    method: 'get',
    path: '/api/stats',
    summary: 'Counts per status and key, oldest due task, failure rate and throughput over the last minutes',
    query: statsQuery,
    response: statsResponse,
    status: 200,
    errors: [...guarded],
  },
  {
    method: 'get',
    path: '/api/abnormal',
    summary: "Abnormal tasks, by the maintenance check's definition",
    query: abnormalQuery,
    response: abnormalResponse,
    status: 200,
    errors: [...guarded],
  },
  {
    method: 'get',
    path: '/api/unsuccessful',
    summary: 'Tasks not succeeded, by id (GTA QueryUnsuccessfulTasks)',
    query: unsuccessfulQuery,
    response: unsuccessfulResponse,
    status: 200,
    errors: [...guarded],
  },
  {
    method: 'post',
    path: '/api/tick',
    summary: 'Run one scanner step now (rescue, maintenance when due, claim and run due tasks)',
    body: tickBody,
    response: tickResponse,
    status: 200,
    errors: [...writes],
  },
  {
    method: 'get',
    path: '/api/schedules',
    summary: 'Every schedule, by id: its cron and time zone, next slot, pause, and the latest task it fired',
    description:
      "Lists the schedules this manager's code defines and those the table holds that it no longer defines (`active: false`).",
    response: scheduleListResponse,
    status: 200,
    errors: [...guarded],
  },
  {
    method: 'post',
    path: '/api/schedules/{id}/pause',
    summary: 'Pause a schedule for every instance: no tick fires it until it is resumed',
    pathParams: scheduleIdParams,
    body: emptyBody,
    response: scheduleResponse,
    status: 200,
    errors: [...writes, 404],
  },
  {
    method: 'post',
    path: '/api/schedules/{id}/resume',
    summary: 'Resume a paused schedule: it fires from its next slot on, not the slots that passed meanwhile',
    pathParams: scheduleIdParams,
    body: emptyBody,
    response: scheduleResponse,
    status: 200,
    errors: [...writes, 404],
  },
  {
    method: 'post',
    path: '/api/schedules/{id}/trigger',
    summary: 'Run a schedule now, outside its cron: enqueues its task with its argument, and starts it',
    description:
      "The task's slot (`scheduledFor`) is now; the schedule's own slots are unaffected, and a paused schedule can be triggered. The task starts through the runtime's `waitUntil` where the request has one (a Worker's execution context), else through the manager's `waitUntil` option, else it runs before the answer; so the answer may show it still running. 409 `inactive_schedule` for a schedule this code no longer defines, `argument_refused` when its task refuses its argument.",
    pathParams: scheduleIdParams,
    body: emptyBody,
    response: taskResponse,
    status: 200,
    errors: [...writes, 404, 409],
  },
  {
    method: 'post',
    path: '/login',
    summary: 'Exchange the admin token for a dashboard session cookie (HttpOnly, SameSite=Strict)',
    body: loginBody,
    response: null,
    status: 204,
    errors: [400, 401, 403, 413, 415],
    public: true,
  },
  {
    method: 'post',
    path: '/logout',
    summary: 'End the dashboard session (clears its cookie)',
    body: emptyBody,
    response: null,
    status: 204,
    errors: [...writes],
  },
];

const COMPONENT_PREFIX = '#/components/schemas/';

function ref(schema: z.ZodType): JsonObject {
  const meta = schemaRegistry.get(schema);
  if (!meta) throw new Error('an admin API schema used in the document is not registered');
  return { $ref: `${COMPONENT_PREFIX}${meta.id}` };
}

/** A schema inlined in a parameter: the JSON Schema keywords only. */
function inline(schema: z.ZodType): JsonObject {
  const { $schema: _, ...rest } = z.toJSONSchema(schema, { io: 'output' }) as JsonObject;
  return rest;
}

function parameters(where: 'path' | 'query', shape: z.ZodObject | undefined): JsonObject[] {
  return Object.entries(shape?.shape ?? {}).map(([name, field]) => ({
    name,
    in: where,
    required: !(field as z.ZodType).safeParse(undefined).success,
    ...((field as z.ZodType).description ? { description: (field as z.ZodType).description } : {}),
    schema: inline(field as z.ZodType),
  }));
}

function operationObject(operation: Operation): JsonObject {
  const responses: JsonObject = {
    [operation.status]: operation.response
      ? { description: 'success', content: { 'application/json': { schema: ref(operation.response) } } }
      : { description: 'success, no content' },
  };
  for (const status of operation.errors) {
    responses[status] = {
      description: ERROR_MEANINGS[status],
      content: { 'application/json': { schema: ref(errorResponse) } },
    };
  }
  return {
    summary: operation.summary,
    ...(operation.description ? { description: operation.description } : {}),
    ...(operation.public ? { security: [] } : {}),
    parameters: [...parameters('path', operation.pathParams), ...parameters('query', operation.query)],
    ...(operation.body
      ? { requestBody: { required: true, content: { 'application/json': { schema: ref(operation.body) } } } }
      : {}),
    responses,
  };
}

function components(): JsonObject {
  const generated = z.toJSONSchema(schemaRegistry, {
    io: 'input',
    uri: (id) => `${COMPONENT_PREFIX}${id}`,
  }) as { schemas: Record<string, JsonObject> };
  return Object.fromEntries(
    Object.entries(generated.schemas).map(([id, { $schema: _, $id: __, ...schema }]) => [id, schema]),
  );
}

let cachedPaths: { paths: JsonObject; schemas: JsonObject } | undefined;

/** The document for an app mounted at `basePath` (such as `/admin`; empty at the root). */
export function openApiDocument(basePath: string): JsonObject {
  cachedPaths ??= {
    paths: OPERATIONS.reduce<JsonObject>((paths, operation) => {
      const item = (paths[operation.path] ?? {}) as JsonObject;
      item[operation.method] = operationObject(operation);
      paths[operation.path] = item;
      return paths;
    }, {}),
    schemas: components(),
  };
  return {
    openapi: '3.1.0',
    info: {
      title: 'gta admin API',
      version: '1',
      description:
        "Inspect and repair gta tasks. Every route needs credentials: `Authorization: Bearer <token>`, a dashboard session cookie from `POST /login` (state-changing requests then also need the `X-GTA-CSRF` header), or the application's own `authorize` hook. State-changing requests must be `application/json` and come from the same origin unless they carry the bearer token.",
    },
    servers: [{ url: basePath === '' ? '/' : basePath }],
    security: [{ bearerAuth: [] }, { sessionCookie: [] }],
    paths: {
      '/': {
        get: {
          summary: 'The dashboard (HTML); without credentials, 401 with the login form',
          responses: { 200: { description: 'the dashboard', content: { 'text/html': {} } } },
        },
      },
      '/openapi.json': {
        get: {
          summary: 'This document',
          responses: { 200: { description: 'OpenAPI 3.1', content: { 'application/json': {} } } },
        },
      },
      ...cachedPaths.paths,
    },
    components: {
      schemas: cachedPaths.schemas,
      securitySchemes: {
        bearerAuth: { type: 'http', scheme: 'bearer', description: 'the admin token' },
        sessionCookie: { type: 'apiKey', in: 'cookie', name: SESSION_COOKIE },
      },
    },
  };
}
