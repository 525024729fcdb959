/**
 * The admin API's inputs and outputs as zod schemas: the inputs validate every request, the
 * outputs document the responses (in the OpenAPI document) and let tests hold the API to them.
 * Named schemas are kept in a registry of their own, so the user's global zod registry is untouched.
 * @module
 */
// A namespace import lets bundlers keep only what is used; zod's `z` object holds every locale.
import * as z from 'zod';
import { MAX_SCHEDULE_ID_LENGTH } from '../schedules.js';
import { TASK_STATES } from '../states.js';
import { MAX_TASK_KEY_LENGTH } from '../task.js';

/** The largest request body accepted: a full rerun list is about 17 KiB. */
export const MAX_BODY_BYTES = 64 * 1024;
/** Most tasks one page of `GET api/tasks` (and the other listings) returns. */
export const MAX_PAGE_SIZE = 500;
export const DEFAULT_PAGE_SIZE = 50;
/** Most ids one `POST api/tasks/rerun` takes. */
export const MAX_RERUN_IDS = 1000;
/** The furthest `GET api/unsuccessful` pages with an offset; deeper offsets make Postgres scan that many rows. */
export const MAX_OFFSET = 100_000;
/** The longest window of `GET api/stats`: one day, as `manager.throughput` allows. */
export const MAX_STATS_MINUTES = 1440;
export const DEFAULT_STATS_MINUTES = 60;
/** The most a tick run through the API may take, so a request cannot hold a worker for long. */
export const MAX_TICK_BUDGET_MS = 60_000;
export const DEFAULT_TICK_BUDGET_MS = 5_000;
export const MAX_TICK_CONCURRENCY = 100;
const MAX_REASON_LENGTH = 500;
const MAX_TOKEN_LENGTH = 1024;

/** Named schemas, emitted as `components.schemas` in the OpenAPI document. */
export const schemaRegistry = z.registry<{ id: string; description?: string }>();

function named<S extends z.ZodType>(id: string, description: string, schema: S): S {
  schemaRegistry.add(schema, { id, description });
  return schema;
}

export const taskStatusSchema = named(
  'TaskStatus',
  'A task state (see the state diagram).',
  z.enum(TASK_STATES),
);

const taskId = z.int().positive();
/**
 * A whole number written in a path or a query: digits only (no sign, exponent or hex, which
 * `Number()` would accept), then checked against `range`.
 */
const wholeNumberText = (range: z.ZodInt) =>
  z
    .string()
    .regex(/^\d{1,16}$/, 'expected a whole number of at most 16 digits')
    .transform(Number)
    .pipe(range);
const taskIdText = wholeNumberText(taskId);
const isoTime = z.iso.datetime({ offset: true });
const pageSize = (max: number, fallback: number) =>
  wholeNumberText(z.int().min(1).max(max)).default(fallback);

// ---- requests ----

export const taskIdParams = z.strictObject({ id: taskIdText.describe('the task id') });

export const scheduleIdParams = z.strictObject({
  id: z
    .string()
    .min(1)
    .max(MAX_SCHEDULE_ID_LENGTH)
    .describe('the schedule id, percent-encoded where it holds a `/` or other reserved characters'),
});

export const listTasksQuery = z
  .strictObject({
    status: z
      .union([taskStatusSchema, z.array(taskStatusSchema).max(TASK_STATES.length)])
      .optional()
      .describe('only tasks in this status; repeat the parameter for several'),
    key: z.string().min(1).max(MAX_TASK_KEY_LENGTH).optional().describe('only tasks with this task key'),
    createdAfter: isoTime.optional().describe('only tasks created at or after this time'),
    createdBefore: isoTime.optional().describe('only tasks created before this time'),
    updatedAfter: isoTime.optional().describe('only tasks last updated at or after this time'),
    updatedBefore: isoTime.optional().describe('only tasks last updated before this time'),
    beforeId: taskIdText.optional().describe('keyset pagination: the `nextBeforeId` of the previous page'),
    limit: pageSize(MAX_PAGE_SIZE, DEFAULT_PAGE_SIZE).describe(`page size, 1 to ${MAX_PAGE_SIZE}`),
  })
  .refine((q) => !(q.createdAfter && q.createdBefore) || q.createdAfter < q.createdBefore, {
    message: 'createdAfter must be earlier than createdBefore',
    path: ['createdAfter'],
  })
  .refine((q) => !(q.updatedAfter && q.updatedBefore) || q.updatedAfter < q.updatedBefore, {
    message: 'updatedAfter must be earlier than updatedBefore',
    path: ['updatedAfter'],
  });

export const statsQuery = z.strictObject({
  minutes: wholeNumberText(z.int().min(1).max(MAX_STATS_MINUTES))
    .default(DEFAULT_STATS_MINUTES)
    .describe(`the window of the throughput and the failure rate, 1 to ${MAX_STATS_MINUTES} minutes`),
});

export const abnormalQuery = z.strictObject({
  limit: pageSize(MAX_PAGE_SIZE, DEFAULT_PAGE_SIZE).describe(`most tasks per reason, 1 to ${MAX_PAGE_SIZE}`),
});

export const unsuccessfulQuery = z.strictObject({
  limit: pageSize(MAX_PAGE_SIZE, DEFAULT_PAGE_SIZE).describe(`page size, 1 to ${MAX_PAGE_SIZE}`),
  offset: wholeNumberText(z.int().min(0).max(MAX_OFFSET))
    .default(0)
    .describe(`tasks to skip, 0 to ${MAX_OFFSET}`),
});

export const rerunBody = named(
  'RerunRequest',
  'GTA ForceRerunTasks: the tasks among `ids` that are currently in `status` go back to initialized, due now.',
  z.strictObject({
    ids: z.array(taskId).min(1).max(MAX_RERUN_IDS),
    status: taskStatusSchema,
  }),
);

export const rerunOneBody = named(
  'RerunOneRequest',
  'The status the task is expected to be in; a task in another status is not rerun.',
  z.strictObject({ status: taskStatusSchema }),
);

export const cancelBody = named(
  'CancelRequest',
  'Why the task is cancelled; stored as its last error (a running task gets it once its handler settled).',
  z.strictObject({ reason: z.string().min(1).max(MAX_REASON_LENGTH).optional() }),
);

export const tickBody = named(
  'TickRequest',
  'Options of the scanner step.',
  z.strictObject({
    budgetMs: z.int().min(1).max(MAX_TICK_BUDGET_MS).default(DEFAULT_TICK_BUDGET_MS),
    concurrency: z.int().min(1).max(MAX_TICK_CONCURRENCY).optional(),
  }),
);

export const loginBody = named(
  'LoginRequest',
  'The admin token, exchanged for a dashboard session cookie.',
  z.strictObject({ token: z.string().min(1).max(MAX_TOKEN_LENGTH) }),
);

export const emptyBody = named('EmptyRequest', 'An empty JSON object.', z.strictObject({}));

// ---- responses ----

const isoTimeOut = z.iso.datetime();
const countsByStatus = z.strictObject(
  Object.fromEntries(TASK_STATES.map((status) => [status, z.int().min(0)])) as Record<
    (typeof TASK_STATES)[number],
    z.ZodInt
  >,
);

const attemptSchema = named(
  'Attempt',
  'One ended attempt of a task; its number counts from the enqueue or the last forced rerun.',
  z.strictObject({
    attempt: z.int().min(0),
    startedAt: isoTimeOut.nullable(),
    endedAt: isoTimeOut,
    outcome: z.enum(['succeeded', 'retried', 'failed', 'cancelled', 'released', 'expired']),
    error: z.string().nullable(),
  }),
);

export const taskSchema = named(
  'Task',
  'A task row. Times are ISO-8601 from the database clock.',
  z.strictObject({
    id: taskId,
    key: z.string(),
    status: taskStatusSchema,
    arg: z.unknown(),
    context: z.string().nullable(),
    attempts: z.int().min(0),
    maxAttempts: z.int().min(1),
    timeoutMs: z.int().min(0),
    runAt: isoTimeOut,
    leaseExpiresAt: isoTimeOut.nullable(),
    leaseToken: z.string().nullable(),
    lastError: z.string().nullable(),
    dedupeKey: z.string().nullable(),
    releasedDedupeKey: z.string().nullable(),
    sequenceKey: z.string().nullable(),
    priority: z.number().int(),
    parentId: taskId.nullable(),
    initTimeoutSensitive: z.boolean(),
    createdAt: isoTimeOut,
    updatedAt: isoTimeOut,
    startedAt: isoTimeOut.nullable(),
    finishedAt: isoTimeOut.nullable(),
    cancelReason: z.string().nullable(),
    concurrencyKey: z
      .string()
      .nullable()
      .describe("The task's concurrency group ('' for its task's one group); null without a limit."),
    rateKey: z
      .string()
      .nullable()
      .describe("The task's rate-limit group ('' for its task's one group); null without a limit."),
    scheduleId: z.string().nullable().describe('The schedule that fired the task; null for other tasks.'),
    scheduledFor: isoTimeOut
      .nullable()
      .describe('The slot the schedule fired the task for, or when an operator triggered it.'),
    history: z
      .array(attemptSchema)
      .describe(
        'Every attempt that ended, oldest first (the last 25): all but a success, which the task itself shows until a forced rerun moves it here.',
      ),
  }),
);

export const taskListResponse = named(
  'TaskList',
  'One page, newest first; pass `nextBeforeId` as `beforeId` for the next (null on the last page).',
  z.strictObject({ tasks: z.array(taskSchema), nextBeforeId: taskId.nullable() }),
);

export const taskResponse = named('TaskResponse', 'One task.', z.strictObject({ task: taskSchema }));

export const unsuccessfulResponse = named(
  'UnsuccessfulTasks',
  'GTA QueryUnsuccessfulTasks: tasks not succeeded, by id.',
  z.strictObject({ tasks: z.array(taskSchema) }),
);

export const statsResponse = named(
  'Stats',
  'Counts per status and per key, the oldest due task, and what finished within the window.',
  z.strictObject({
    byStatus: countsByStatus,
    byKey: z.record(z.string(), countsByStatus),
    oldestInitializedAgeMs: z.number().min(0).nullable(),
    windowMinutes: z.int().min(1),
    finished: z.strictObject({ succeeded: z.int().min(0), failed: z.int().min(0) }),
    failureRate: z.number().min(0).max(1).nullable(),
    throughput: z.array(
      z.strictObject({ minute: isoTimeOut, succeeded: z.int().min(0), failed: z.int().min(0) }),
    ),
  }),
);

export const abnormalResponse = named(
  'AbnormalTasks',
  "The maintenance check's abnormal tasks: due too long, running too long, or failed within storageTimeout.",
  z.strictObject({
    tasks: z.array(
      z.strictObject({
        reason: z.enum(['initialized-too-long', 'running-too-long', 'failed', 'exceeds-tick-window']),
        task: taskSchema,
      }),
    ),
  }),
);

export const rerunResponse = named(
  'RerunResult',
  'How many of the requested tasks were moved back to initialized.',
  z.strictObject({ requested: z.int().min(0), rerun: z.int().min(0) }),
);

export const tickResponse = named(
  'TickReport',
  'What the scanner step did.',
  z.strictObject({
    claimed: z.int().min(0),
    succeeded: z.int().min(0),
    failed: z.int().min(0),
    retried: z.int().min(0),
    cancelled: z.int().min(0),
    rescued: z.int().min(0),
    cleaned: z.int().min(0),
    abnormal: z.int().min(0),
    scheduled: z.int().min(0),
    maintenance: z.boolean(),
    durationMs: z.number().min(0),
  }),
);

export const scheduleSchema = named(
  'Schedule',
  "A schedule defined in this manager's code, or stored in the table by one that defined it. Times are ISO-8601.",
  z.strictObject({
    id: z.string(),
    task: z.string().describe('The task key it enqueues.'),
    cron: z.string(),
    timezone: z.string().describe('The IANA time zone its cron expression reads in.'),
    catchUp: z
      .enum(['latest', 'all', 'none'])
      .nullable()
      .describe('What it does with slots missed while no tick looked; null for an inactive schedule.'),
    active: z
      .boolean()
      .describe("Whether this manager's code defines it; an inactive one fires nowhere that runs this code."),
    paused: z.boolean().describe('Paused by an operator, for every instance.'),
    nextSlot: isoTimeOut
      .nullable()
      .describe('The next slot of an active schedule (paused or not); null for an inactive one.'),
    lastTask: z
      .strictObject({
        id: taskId,
        status: taskStatusSchema,
        scheduledFor: isoTimeOut.describe('Its slot, or when an operator triggered it.'),
        lastError: z.string().nullable(),
      })
      .nullable()
      .describe('The latest task it fired, at a slot or triggered, while the table keeps it.'),
  }),
);

export const scheduleListResponse = named(
  'ScheduleList',
  'Every schedule, by id.',
  z.strictObject({ schedules: z.array(scheduleSchema) }),
);

export const scheduleResponse = named(
  'ScheduleResponse',
  'One schedule.',
  z.strictObject({ schedule: scheduleSchema }),
);

export const errorResponse = named(
  'Error',
  'Every failure answers this shape; it never holds a stack trace or SQL.',
  z.strictObject({
    error: z.strictObject({
      code: z.string(),
      message: z.string(),
      issues: z.array(z.strictObject({ path: z.string(), message: z.string() })).optional(),
    }),
  }),
);
