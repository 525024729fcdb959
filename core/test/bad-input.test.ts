/**
 * SPEC §10 on PGlite: every kind of bad input ends as a typed error before anything is written, or
 * as a `failed` task with the reason in `lastError`, and never crashes the invocation, blocks the
 * other tasks or loses a committed task.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import {
  createTaskManager,
  defineTask,
  type EnqueueOptions,
  type GtaError,
  type GtaErrorCode,
  isGtaError,
  type LogFields,
  type Logger,
  RetryAfter,
  type SqlExecutor,
  silentLogger,
  type TaskDefinition,
  type TaskId,
  type TaskManager,
  type TaskManagerOptions,
} from '../src/index.js';
import { createPgliteDatabase, type TestDatabase } from './support/databases.js';

type AnyTask = TaskDefinition<any, any, any>;

let database: TestDatabase;
let tables = 0;

beforeAll(async () => {
  database = await createPgliteDatabase();
});

afterAll(async () => {
  await database?.close();
});

/** A migrated manager on a table of its own. */
async function createManager(
  tasks: AnyTask[],
  options: Omit<TaskManagerOptions, 'db' | 'table' | 'tasks'> = {},
): Promise<{ manager: TaskManager; table: string; countRows: () => Promise<number> }> {
  const table = `bad_${++tables}`;
  const manager = createTaskManager({ db: database.db, table, logger: silentLogger, tasks, ...options });
  await manager.migrate();
  return { manager, table, countRows: () => countRows(table) };
}

/** User task rows in `table` (the built-in maintenance row excluded). */
async function countRows(table: string): Promise<number> {
  const [row] = await database.query<{ count: number }>(
    `select count(*)::int as count from "${table}" where task_key not like 'gta:%'`,
  );
  return Number(row?.count);
}

/** Awaits `action`, expecting a gta error with `code` whose message contains every fragment. */
async function expectGtaError(
  action: () => unknown,
  code: GtaErrorCode,
  ...fragments: (string | RegExp)[]
): Promise<GtaError> {
  let caught: unknown;
  try {
    await action();
  } catch (error) {
    caught = error;
  }
  expect(isGtaError(caught, code), `expected ${code}, got ${String(caught)}`).toBe(true);
  for (const fragment of fragments) expect((caught as Error).message).toMatch(fragment);
  return caught as GtaError;
}

/**
 * Enqueues in a transaction gta did not open, so the tasks only become visible at commit and wait
 * for a scanner (`tick`) instead of being started by the commit hook.
 */
function enqueueForTick(
  manager: TaskManager,
  entries: [AnyTask, unknown, EnqueueOptions?][],
): Promise<TaskId[]> {
  return database.db.transaction(async (tx: SqlExecutor) => {
    const ids: TaskId[] = [];
    for (const [task, arg, options] of entries) {
      ids.push(await manager.enqueue(task, arg, { ...options, tx }));
    }
    return ids;
  });
}

/** A task that records its argument and succeeds: the bystander that bad input must not disturb. */
function healthyTask(): { definition: TaskDefinition<{ n: number }>; seen: number[] } {
  const seen: number[] = [];
  const definition = defineTask({
    key: 'healthy',
    handler: (arg: { n: number }) => {
      seen.push(arg.n);
    },
  });
  return { definition, seen };
}

async function taskOf(manager: TaskManager, id: TaskId) {
  const task = await manager.getTask(id);
  expect(task, `task ${id} exists`).not.toBeNull();
  return task!;
}

async function expectSucceeded(manager: TaskManager, id: TaskId): Promise<void> {
  expect(await taskOf(manager, id)).toMatchObject({ status: 'succeeded', lastError: null });
}

function capturingLogger(): {
  logger: Logger;
  entries: { level: string; fields: LogFields; message: string }[];
} {
  const entries: { level: string; fields: LogFields; message: string }[] = [];
  const at =
    (level: string) =>
    (fields: LogFields, message = ''): void => {
      entries.push({ level, fields, message });
    };
  return { logger: { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') }, entries };
}

const store = defineTask({ key: 'store', handler: () => {} });

describe('enqueue refuses bad input with a typed error and writes nothing', () => {
  it('refuses a task key no definition registered, given as a string', async () => {
    const { manager, countRows } = await createManager([store]);
    await expectGtaError(
      () => manager.enqueue('no-such-task', {}),
      'GTA_UNKNOWN_TASK_KEY',
      '"no-such-task"',
      'register',
    );
    expect(await countRows()).toBe(0);
  });

  it('refuses a definition that was never registered with the manager', async () => {
    const { manager, countRows } = await createManager([store]);
    const stranger = defineTask({ key: 'never-registered', handler: () => {} });
    await expectGtaError(() => manager.enqueue(stranger, {}), 'GTA_UNKNOWN_TASK_KEY', 'never-registered');
    await expectGtaError(
      () => manager.enqueueMany(stranger, [{}, {}]),
      'GTA_UNKNOWN_TASK_KEY',
      'never-registered',
    );
    expect(await countRows()).toBe(0);
  });

  it('refuses an argument failing the schema, naming the task and each failing path', async () => {
    const signup = defineTask({
      key: 'signup',
      schema: z.object({ user: z.object({ email: z.email() }), seats: z.number().int().positive() }),
      handler: () => {},
    });
    const { manager, countRows } = await createManager([signup]);
    await expectGtaError(
      () => manager.enqueue(signup, { user: { email: 'not-an-email' }, seats: -1 }),
      'GTA_SCHEMA_REJECTED',
      'task signup',
      'user.email',
      'seats',
    );
    await expectGtaError(
      () => manager.enqueue(signup, 'just a string' as never),
      'GTA_SCHEMA_REJECTED',
      'signup',
    );
    expect(await countRows()).toBe(0);
  });

  it('stores the argument as given and hands the schema-transformed value to the handler', async () => {
    const received: unknown[] = [];
    const normalise = defineTask({
      key: 'normalise',
      schema: z.object({ email: z.string().trim().toLowerCase(), count: z.string().transform(Number) }),
      handler: (arg) => {
        received.push(arg);
      },
    });
    const { manager } = await createManager([normalise]);
    const id = await manager.enqueue(normalise, { email: '  Ada@Example.COM ', count: '3' });
    expect(received).toEqual([{ email: 'ada@example.com', count: 3 }]);
    expect(await taskOf(manager, id)).toMatchObject({
      status: 'succeeded',
      arg: { email: '  Ada@Example.COM ', count: '3' },
    });
  });

  class Money {
    constructor(readonly cents: number) {}
  }
  const cyclic: Record<string, unknown> = { name: 'loop' };
  cyclic.self = cyclic;
  const cyclicList: { list: unknown[] } = { list: [] };
  cyclicList.list.push(cyclicList);

  it.each([
    ['a BigInt', { a: { b: 10n } }, 'argument.a.b', 'BigInt'],
    ['a cycle through an object', cyclic, 'argument.self', 'cycle'],
    ['a cycle through an array', cyclicList, 'argument.list[0]', 'cycle'],
    ['a function', { a: { b: () => 1 } }, 'argument.a.b', 'function'],
    ['a Symbol', { tag: Symbol('x') }, 'argument.tag', 'symbol'],
    ['NaN', { ratio: Number.NaN }, 'argument.ratio', 'NaN is not a finite number'],
    ['Infinity', [1, Number.POSITIVE_INFINITY], 'argument[1]', 'Infinity is not a finite number'],
    ['a Map', { lookup: new Map([['a', 1]]) }, 'argument.lookup', 'instances of Map'],
    ['a class instance', new Money(100), 'argument', 'instances of Money'],
    ['undefined at top level', undefined, 'argument', 'undefined cannot be stored'],
  ])('refuses an argument holding %s, naming its path', async (_what, arg, path, reason) => {
    const { manager, countRows } = await createManager([store]);
    await expectGtaError(
      () => manager.enqueue(store, arg),
      'GTA_NOT_SERIALIZABLE',
      `${path} cannot be serialized`,
      reason,
    );
    expect(await countRows()).toBe(0);
  });

  it('refuses a context that is not serializable, naming its path', async () => {
    const { manager, countRows } = await createManager([store]);
    await expectGtaError(
      () => manager.enqueue(store, {}, { context: { trace: { id: 7n } } }),
      'GTA_NOT_SERIALIZABLE',
      'context.trace.id cannot be serialized',
      'BigInt',
    );
    await expectGtaError(
      () => manager.enqueue(store, {}, { context: { onDone: () => {} } }),
      'GTA_NOT_SERIALIZABLE',
      'context.onDone',
    );
    expect(await countRows()).toBe(0);
  });

  it('refuses text Postgres cannot store (NUL, an unpaired surrogate) in an argument, its keys, keys and context', async () => {
    const task = defineTask({ key: 'unstorable', handler: () => {} });
    const { manager, countRows } = await createManager([task]);
    await expectGtaError(
      () => manager.enqueue(task, { note: 'a\u0000b' }),
      'GTA_NOT_SERIALIZABLE',
      'argument.note',
      'NUL',
    );
    await expectGtaError(
      () => manager.enqueue(task, { 'k\u0000': 1 }),
      'GTA_NOT_SERIALIZABLE',
      'its key',
      'NUL',
    );
    await expectGtaError(
      () => manager.enqueue(task, ['\ud800']),
      'GTA_NOT_SERIALIZABLE',
      'argument[0]',
      'surrogate',
    );
    await expectGtaError(
      () => manager.enqueue(task, {}, { dedupeKey: 'x\u0000' }),
      'GTA_INVALID_ARGUMENT',
      'dedupeKey',
    );
    await expectGtaError(
      () => manager.enqueue(task, {}, { sequenceKey: '\udc00' }),
      'GTA_INVALID_ARGUMENT',
      'sequenceKey',
    );
    await expectGtaError(
      () => manager.enqueue(task, {}, { context: { trace: '\u0000' } }),
      'GTA_NOT_SERIALIZABLE',
      'context',
    );
    expect(await countRows()).toBe(0);
    // A paired surrogate (an emoji) is ordinary text.
    const id = await manager.enqueue(task, { note: 'ok \ud83d\ude00' });
    expect((await manager.getTask(id))?.arg).toEqual({ note: 'ok \ud83d\ude00' });
  });

  it('refuses a context whose ctxMarshaler throws or returns something other than a string', async () => {
    const marshalFailure = new Error('tenant missing');
    const throwing = defineTask({
      key: 'marshal-throws',
      ctxMarshaler: {
        marshal: () => {
          throw marshalFailure;
        },
        unmarshal: (stored) => stored,
      },
      handler: () => {},
    });
    const notString = defineTask({
      key: 'marshal-not-string',
      ctxMarshaler: { marshal: () => 42 as unknown as string, unmarshal: (stored) => stored },
      handler: () => {},
    });
    const { manager, countRows } = await createManager([throwing, notString]);
    const thrown = await expectGtaError(
      () => manager.enqueue(throwing, {}, { context: { tenant: 'acme' } }),
      'GTA_NOT_SERIALIZABLE',
      'ctxMarshaler.marshal threw',
    );
    expect(thrown.cause).toBe(marshalFailure);
    await expectGtaError(
      () => manager.enqueue(notString, {}, { context: { tenant: 'acme' } }),
      'GTA_NOT_SERIALIZABLE',
      'must return a string',
    );
    expect(await countRows()).toBe(0);
  });

  it('refuses an argument larger than maxArgumentBytes, counting UTF-8 bytes, and accepts one at the limit', async () => {
    const { manager, countRows } = await createManager([store], { maxArgumentBytes: 100 });
    const bytes = (value: unknown) => new TextEncoder().encode(JSON.stringify(value)).byteLength;
    for (const arg of [{ note: 'x'.repeat(200) }, 'x'.repeat(99), 'é'.repeat(50)]) {
      await expectGtaError(
        () => manager.enqueue(store, arg),
        'GTA_ARGUMENT_TOO_LARGE',
        `task store is ${bytes(arg)} bytes`,
        'maxArgumentBytes',
        'is 100',
      );
    }
    expect(await countRows()).toBe(0);
    await manager.enqueue(store, 'x'.repeat(98));
    await manager.enqueue(store, 'é'.repeat(49));
    expect(await countRows()).toBe(2);
  });

  it.each([
    ['a negative delayMs', { delayMs: -1 }, 'delayMs must be a number from 0 to'],
    ['a NaN delayMs', { delayMs: Number.NaN }, 'delayMs'],
    ['an infinite delayMs', { delayMs: Number.POSITIVE_INFINITY }, 'delayMs'],
    ['a delayMs given as text', { delayMs: '5' }, 'delayMs'],
    [
      'a runAt that is no time',
      { runAt: 'next tuesday' },
      'runAt must be a valid time between 1970 and 9999, got next tuesday',
    ],
    ['an invalid Date as runAt', { runAt: new Date(Number.NaN) }, 'runAt must be a valid time'],
    ['a runAt past the year 9999', { runAt: new Date(Date.UTC(12000, 0, 1)) }, 'between 1970 and 9999'],
    ['both runAt and delayMs', { runAt: new Date(), delayMs: 10 }, 'runAt or delayMs, not both'],
    ['an empty dedupeKey', { dedupeKey: '' }, 'dedupeKey must be a string of 1 to 255 characters'],
    ['a 300-character dedupeKey', { dedupeKey: 'd'.repeat(300) }, 'dedupeKey'],
    ['a numeric dedupeKey', { dedupeKey: 42 }, 'dedupeKey'],
    ['an empty sequenceKey', { sequenceKey: '' }, 'sequenceKey must be a string of 1 to 255 characters'],
    ['a 300-character sequenceKey', { sequenceKey: 's'.repeat(300) }, 'sequenceKey'],
    ['null options', null, 'enqueue options must be an object'],
    ['options given as a string', 'urgent', 'enqueue options must be an object'],
    ['options given as a number', 5, 'enqueue options must be an object'],
  ])('refuses %s with GTA_INVALID_ARGUMENT', async (_what, options, fragment) => {
    const { manager, countRows } = await createManager([store]);
    await expectGtaError(
      () => manager.enqueue(store, {}, options as unknown as EnqueueOptions),
      'GTA_INVALID_ARGUMENT',
      fragment,
    );
    await expectGtaError(
      () => manager.enqueueStatement(store, {}, options as unknown as EnqueueOptions),
      'GTA_INVALID_ARGUMENT',
      fragment,
    );
    expect(await countRows()).toBe(0);
  });

  it('enqueueMany writes nothing when one argument of many is bad, and refuses a non-array', async () => {
    const { manager, countRows } = await createManager([store]);
    await expectGtaError(
      () => manager.enqueueMany(store, [{ n: 1 }, { n: 2n }, { n: 3 }]),
      'GTA_NOT_SERIALIZABLE',
      'arguments[1].n',
    );
    await expectGtaError(
      () => manager.enqueueMany(store, { n: 1 } as unknown as unknown[]),
      'GTA_INVALID_ARGUMENT',
      'array',
    );
    expect(await countRows()).toBe(0);
  });

  it('enqueueMany refuses non-object options with a typed error', async () => {
    const { manager, countRows } = await createManager([store]);
    await expectGtaError(
      () => manager.enqueueMany(store, [{ n: 1 }], null as unknown as EnqueueOptions),
      'GTA_INVALID_ARGUMENT',
      'options must be an object',
    );
    expect(await countRows()).toBe(0);
  });

  it('refuses at enqueue an argument the schema accepts only before JSON (a Date for z.date())', async () => {
    const ran: unknown[] = [];
    const remind = defineTask({
      key: 'remind',
      schema: z.object({ at: z.date() }),
      handler: (arg) => {
        ran.push(arg);
      },
    });
    const { manager } = await createManager([remind]);
    let id: TaskId | undefined;
    try {
      id = await manager.enqueue(remind, { at: new Date('2030-01-01T00:00:00Z') });
    } catch (error) {
      expect(isGtaError(error, 'GTA_SCHEMA_REJECTED') || isGtaError(error, 'GTA_NOT_SERIALIZABLE')).toBe(
        true,
      );
      return;
    }
    expect(await taskOf(manager, id), 'an accepted argument must reach the handler').toMatchObject({
      status: 'succeeded',
    });
  });

  // Guarantee: a handler receives the value its enqueue passed, or the enqueue fails: a Date (or any
  // value with toJSON) is refused unless the task's schema turns its JSON form back.
  it('refuses a Date for a task without a schema, naming its path, and hands a schema-coerced one back as a Date', async () => {
    const { manager, countRows } = await createManager([store]);
    await expectGtaError(
      () => manager.enqueue(store, { remind: { at: new Date('2030-01-01T00:00:00Z') } }),
      'GTA_NOT_SERIALIZABLE',
      'argument.remind.at cannot be serialized: a Date reaches the handler as an ISO string',
    );
    class Money {
      toJSON() {
        return '1.00 EUR';
      }
    }
    await expectGtaError(
      () => manager.enqueue(store, [new Money()]),
      'GTA_NOT_SERIALIZABLE',
      'a Money with toJSON',
    );
    expect(await countRows()).toBe(0);

    const received: unknown[] = [];
    const remind = defineTask({
      key: 'remind-coerced',
      schema: z.object({ at: z.coerce.date() }),
      handler: (arg) => {
        received.push(arg.at);
      },
    });
    const coerced = await createManager([remind]);
    const id = await coerced.manager.enqueue(remind, { at: new Date('2030-01-01T00:00:00Z') });
    expect(await taskOf(coerced.manager, id)).toMatchObject({ status: 'succeeded' });
    expect(received).toEqual([new Date('2030-01-01T00:00:00Z')]);
  });

  it('refuses an argument whose toJSON returns the object itself with a typed error, not a stack overflow', async () => {
    const { manager, countRows } = await createManager([store]);
    const selfish: Record<string, unknown> = { name: 'selfish' };
    selfish.toJSON = () => selfish;
    let caught: unknown;
    try {
      await manager.enqueue(store, selfish);
    } catch (error) {
      caught = error;
    }
    if (caught !== undefined) expect(isGtaError(caught), `got ${String(caught)}`).toBe(true);
    expect(await countRows()).toBe(caught === undefined ? 1 : 0);
  });

  it('refuses a priority that is not a whole 32-bit number, at enqueue and in a definition', async () => {
    const task = defineTask({ key: 'prioritised', handler: () => {} });
    const { manager, countRows } = await createManager([task]);
    for (const priority of [1.5, Number.NaN, 2 ** 31, '1' as unknown as number]) {
      await expectGtaError(() => manager.enqueue(task, {}, { priority }), 'GTA_INVALID_ARGUMENT', 'priority');
    }
    await expectGtaError(
      () => defineTask({ key: 'bad-priority', priority: -(2 ** 31) - 1, handler: () => {} }),
      'GTA_INVALID_OPTION',
      'priority',
    );
    expect(await countRows()).toBe(0);
  });

  it('refuses a delayMs beyond what the database can store as an invalid argument, not a storage error', async () => {
    const { manager, countRows } = await createManager([store]);
    await expectGtaError(
      () => manager.enqueue(store, {}, { delayMs: 1e300 }),
      'GTA_INVALID_ARGUMENT',
      'delayMs',
    );
    expect(await countRows()).toBe(0);
  });
});

describe('operator calls refuse invalid input with GTA_INVALID_ARGUMENT', () => {
  const badIds: [string, unknown][] = [
    ['0', 0],
    ['-1', -1],
    ['1.5', 1.5],
    ["'1'", '1'],
    ['NaN', Number.NaN],
    ['Infinity', Number.POSITIVE_INFINITY],
    ['null', null],
    ['2 ** 53', 2 ** 53],
  ];

  it.each(badIds)('getTask and forceRerunTasks refuse the id %s', async (_what, id) => {
    const { manager } = await createManager([store]);
    await expectGtaError(
      () => manager.getTask(id as TaskId),
      'GTA_INVALID_ARGUMENT',
      'a task id is a whole number ≥ 1',
    );
    await expectGtaError(
      () => manager.forceRerunTasks([1, id as TaskId], 'failed'),
      'GTA_INVALID_ARGUMENT',
      'a task id is a whole number ≥ 1',
    );
  });

  it('forceRerunTasks refuses more than 10,000 ids, a non-array and an unknown status', async () => {
    const { manager } = await createManager([store]);
    const ids = (count: number) => Array.from({ length: count }, (_, index) => index + 1);
    await expectGtaError(
      () => manager.forceRerunTasks(ids(10_001), 'failed'),
      'GTA_INVALID_ARGUMENT',
      'at most 10000 task ids',
    );
    await expectGtaError(
      () => manager.forceRerunTasks(1 as unknown as TaskId[], 'failed'),
      'GTA_INVALID_ARGUMENT',
    );
    for (const status of ['done', 'FAILED', '', undefined]) {
      await expectGtaError(
        () => manager.forceRerunTasks([1], status as 'failed'),
        'GTA_INVALID_ARGUMENT',
        'unknown status',
        'initialized, running, succeeded, failed',
      );
    }
    expect(await manager.forceRerunTasks(ids(10_000), 'failed')).toBe(0);
  });

  it.each([
    ['0', 0],
    ['1001', 1001],
    ['2.5', 2.5],
    ['NaN', Number.NaN],
  ])('listTasks and queryUnsuccessfulTasks refuse the limit %s', async (_what, limit) => {
    const { manager } = await createManager([store]);
    await expectGtaError(
      () => manager.listTasks({ limit }),
      'GTA_INVALID_ARGUMENT',
      'limit must be a whole number from 1 to 1000',
    );
    await expectGtaError(() => manager.queryUnsuccessfulTasks({ limit }), 'GTA_INVALID_ARGUMENT', 'limit');
  });

  it('listTasks refuses an unknown status, a bad time and a bad beforeId; a bad offset is refused too', async () => {
    const { manager } = await createManager([store]);
    await expectGtaError(
      () => manager.listTasks({ status: 'done' as 'failed' }),
      'GTA_INVALID_ARGUMENT',
      '"done"',
    );
    await expectGtaError(
      () => manager.listTasks({ status: ['failed', 'nope' as 'failed'] }),
      'GTA_INVALID_ARGUMENT',
      '"nope"',
    );
    await expectGtaError(
      () => manager.listTasks({ createdAfter: 'yesterday' }),
      'GTA_INVALID_ARGUMENT',
      'createdAfter',
    );
    await expectGtaError(() => manager.listTasks({ beforeId: 0 }), 'GTA_INVALID_ARGUMENT', 'task id');
    await expectGtaError(
      () => manager.queryUnsuccessfulTasks({ offset: -1 }),
      'GTA_INVALID_ARGUMENT',
      'offset',
    );
  });

  it('tick refuses a budget or concurrency that is not positive', async () => {
    const { manager } = await createManager([store]);
    await expectGtaError(() => manager.tick({ budgetMs: 0 }), 'GTA_INVALID_ARGUMENT', 'budgetMs');
    await expectGtaError(() => manager.tick({ budgetMs: Number.NaN }), 'GTA_INVALID_ARGUMENT', 'budgetMs');
    await expectGtaError(() => manager.tick({ concurrency: 0 }), 'GTA_INVALID_ARGUMENT', 'concurrency');
    await expectGtaError(() => manager.tick({ concurrency: 1.5 }), 'GTA_INVALID_ARGUMENT', 'concurrency');
  });
});

describe('task definitions', () => {
  const handler = () => {};

  it.each([
    [
      'an empty key',
      { key: '', handler },
      'GTA_INVALID_OPTION',
      'a task key must be a string of 1 to 64 characters',
    ],
    ['a 65-character key', { key: 'k'.repeat(65), handler }, 'GTA_INVALID_OPTION', '1 to 64 characters'],
    ['a key that is not a string', { key: 42, handler }, 'GTA_INVALID_OPTION', 'got 42'],
    ['a key with the reserved gta: prefix', { key: 'gta:mine', handler }, 'GTA_INVALID_OPTION', 'reserved'],
    [
      'a negative retryTimes',
      { key: 'k', handler, retryTimes: -1 },
      'GTA_INVALID_OPTION',
      'task k: retryTimes',
    ],
    ['a fractional retryTimes', { key: 'k', handler, retryTimes: 1.5 }, 'GTA_INVALID_OPTION', 'got 1.5'],
    ['a NaN retryTimes', { key: 'k', handler, retryTimes: Number.NaN }, 'GTA_INVALID_OPTION', 'retryTimes'],
    [
      'a zero timeoutMs',
      { key: 'k', handler, timeoutMs: 0 },
      'GTA_INVALID_OPTION',
      'timeoutMs must be a number from 1 to',
    ],
    ['a negative timeoutMs', { key: 'k', handler, timeoutMs: -5 }, 'GTA_INVALID_OPTION', 'timeoutMs'],
    [
      'an infinite timeoutMs',
      { key: 'k', handler, timeoutMs: Number.POSITIVE_INFINITY },
      'GTA_INVALID_OPTION',
      'timeoutMs',
    ],
    [
      'a handler that is not a function',
      { key: 'k', handler: 'run' },
      'GTA_INVALID_OPTION',
      'handler must be a function',
    ],
    ['no handler', { key: 'k' }, 'GTA_INVALID_OPTION', 'handler'],
    [
      'a retryInterval that is not a function',
      { key: 'k', handler, retryInterval: 1000 },
      'GTA_INVALID_OPTION',
      'retryInterval',
    ],
  ] as const)('defineTask refuses %s', async (_what, input, code, fragment) => {
    await expectGtaError(() => defineTask(input as never), code, fragment);
  });

  it('defineTask accepts a 64-character key and the documented defaults', () => {
    const task = defineTask({ key: 'k'.repeat(64), handler });
    expect(task).toMatchObject({ retryTimes: 0, cleanSucceeded: false, initTimeoutSensitive: false });
    expect(task.retryInterval(1)).toBe(1000);
  });

  it('refuses two different definitions under one key, at creation and at register', async () => {
    const first = defineTask({ key: 'same-key', handler });
    const second = defineTask({ key: 'same-key', handler });
    await expectGtaError(
      () => createTaskManager({ db: database.db, logger: silentLogger, tasks: [first, second] }),
      'GTA_DUPLICATE_TASK_KEY',
      'same-key',
    );
    const manager = createTaskManager({ db: database.db, logger: silentLogger, tasks: [first] });
    manager.register(first);
    await expectGtaError(
      () => manager.register(second),
      'GTA_DUPLICATE_TASK_KEY',
      'already registered as same-key',
    );
    await expectGtaError(
      () => manager.register({} as AnyTask),
      'GTA_INVALID_OPTION',
      'a task key must be a string',
    );
  });

  it('defineTask refuses a timeoutMs or retryTimes the task table cannot store', async () => {
    await expectGtaError(
      () => defineTask({ key: 'slow', handler, timeoutMs: 3e9 }),
      'GTA_INVALID_OPTION',
      'timeoutMs',
    );
    await expectGtaError(
      () => defineTask({ key: 'stubborn', handler, retryTimes: 3e9 }),
      'GTA_INVALID_OPTION',
      'retryTimes',
    );
  });

  it('register refuses a hand-made definition that breaks the key rules defineTask enforces', async () => {
    const { manager, countRows } = await createManager([]);
    const handMade = (key: string): AnyTask => ({
      key,
      handler,
      retryTimes: 0,
      retryInterval: () => 1000,
      cleanSucceeded: false,
      initTimeoutSensitive: false,
      priority: 0,
    });
    await expectGtaError(
      () => manager.register(handMade('gta:maintenance')),
      'GTA_INVALID_OPTION',
      'reserved',
    );
    await expectGtaError(() => manager.register(handMade('k'.repeat(65))), 'GTA_INVALID_OPTION', '64');
    expect(await countRows()).toBe(0);
  });
});

describe('a misbehaving handler fails its own task only', () => {
  it.each([
    ['a string', 'quota exceeded', 'non-Error thrown: quota exceeded'],
    ['undefined', undefined, 'non-Error thrown: undefined'],
    ['null', null, 'non-Error thrown: null'],
    [
      'a plain object',
      { code: 'E_QUOTA', retry: false },
      'non-Error thrown: {"code":"E_QUOTA","retry":false}',
    ],
    ['a number', 42, 'non-Error thrown: 42'],
  ])(
    'a handler throwing %s fails with a readable lastError; the tick and other tasks are fine',
    async (_what, thrown, text) => {
      const throwing = defineTask({
        key: 'throws',
        handler: async () => {
          throw thrown;
        },
      });
      const healthy = healthyTask();
      const { manager } = await createManager([throwing, healthy.definition]);
      const [badId, goodId] = await enqueueForTick(manager, [
        [throwing, {}],
        [healthy.definition, { n: 1 }],
      ]);
      const report = await manager.tick();
      expect(report).toMatchObject({ claimed: 2, succeeded: 1, failed: 1, retried: 0 });
      const bad = await taskOf(manager, badId!);
      expect(bad.status).toBe('failed');
      expect(bad.lastError).toBe(`attempt 1: ${text}`);
      await expectSucceeded(manager, goodId!);
      expect(healthy.seen).toEqual([1]);
    },
  );

  it('a handler that throws synchronously fails with the error message', async () => {
    const sync = defineTask({
      key: 'sync-throw',
      handler: () => {
        throw new TypeError('cannot read the order');
      },
    });
    const healthy = healthyTask();
    const { manager } = await createManager([sync, healthy.definition]);
    const [badId, goodId] = await enqueueForTick(manager, [
      [sync, {}],
      [healthy.definition, { n: 1 }],
    ]);
    expect(await manager.tick()).toMatchObject({ succeeded: 1, failed: 1 });
    const bad = await taskOf(manager, badId!);
    expect(bad.status).toBe('failed');
    expect(bad.lastError).toContain('attempt 1: TypeError: cannot read the order');
    await expectSucceeded(manager, goodId!);
  });

  it('a handler that never settles times out: its signal aborts, the task fails, the tick returns', async () => {
    const signalStates: boolean[] = [];
    const hang = defineTask({
      key: 'hang',
      timeoutMs: 100,
      handler: (_arg, ctx) => {
        ctx.signal.addEventListener('abort', () => signalStates.push(ctx.signal.aborted));
        return new Promise(() => {});
      },
    });
    const healthy = healthyTask();
    const { manager } = await createManager([hang, healthy.definition]);
    const [hangId, goodId] = await enqueueForTick(manager, [
      [hang, {}],
      [healthy.definition, { n: 1 }],
    ]);
    const report = await manager.tick({ budgetMs: 5000 });
    expect(report).toMatchObject({ claimed: 2, succeeded: 1, failed: 1 });
    expect(report.durationMs).toBeLessThan(5000);
    expect(signalStates).toEqual([true]);
    const hung = await taskOf(manager, hangId!);
    expect(hung.status).toBe('failed');
    expect(hung.lastError).toContain('timed out after 100 ms');
    await expectSucceeded(manager, goodId!);
  });

  it('a handler throwing an object that neither JSON nor String can render still fails with a readable lastError', async () => {
    const unprintable = defineTask({
      key: 'unprintable',
      handler: () => {
        throw Object.assign(Object.create(null), { amount: 10n });
      },
    });
    const healthy = healthyTask();
    const { manager } = await createManager([unprintable, healthy.definition]);
    const [badId, goodId] = await enqueueForTick(manager, [
      [unprintable, {}],
      [healthy.definition, { n: 1 }],
    ]);
    await manager.tick();
    await expectSucceeded(manager, goodId!);
    const bad = await taskOf(manager, badId!);
    expect(bad.status).toBe('failed');
    expect(bad.lastError).toContain('non-Error thrown');
  });

  it('a nested enqueue with bad input fails the parent with the typed reason and writes no child', async () => {
    const child = defineTask({ key: 'child', handler: () => {} });
    const unknownChild = defineTask({
      key: 'parent-unknown',
      handler: (_arg, ctx) => ctx.enqueue('missing-child', {}),
    });
    const badArgChild = defineTask({
      key: 'parent-bad-arg',
      handler: (_arg, ctx) => ctx.enqueue(child, { amount: 10n }),
    });
    const healthy = healthyTask();
    const { manager, countRows } = await createManager([
      child,
      unknownChild,
      badArgChild,
      healthy.definition,
    ]);
    const [unknownId, badArgId, goodId] = await enqueueForTick(manager, [
      [unknownChild, {}],
      [badArgChild, {}],
      [healthy.definition, { n: 1 }],
    ]);
    expect(await manager.tick()).toMatchObject({ claimed: 3, succeeded: 1, failed: 2 });
    const unknown = await taskOf(manager, unknownId!);
    expect(unknown.status).toBe('failed');
    expect(unknown.lastError).toContain('no task registered as "missing-child"');
    const badArg = await taskOf(manager, badArgId!);
    expect(badArg.status).toBe('failed');
    expect(badArg.lastError).toContain('argument.amount cannot be serialized');
    await expectSucceeded(manager, goodId!);
    expect(await countRows()).toBe(3);
  });
});

describe('corrupt rows fail at once, without using retries', () => {
  it('a stored context that is not JSON and a stored argument that fails the schema each end failed', async () => {
    const ran: string[] = [];
    const withContext = defineTask({
      key: 'with-context',
      retryTimes: 3,
      handler: () => {
        ran.push('with-context');
      },
    });
    const unmarshalFails = defineTask({
      key: 'unmarshal-fails',
      retryTimes: 3,
      ctxMarshaler: {
        marshal: (context: { tenant: string }) => context.tenant,
        unmarshal: () => {
          throw new Error('tenant unknown');
        },
      },
      handler: () => {
        ran.push('unmarshal-fails');
      },
    });
    const withSchema = defineTask({
      key: 'with-schema',
      retryTimes: 3,
      schema: z.object({ orderId: z.number() }),
      handler: () => {
        ran.push('with-schema');
      },
    });
    const healthy = healthyTask();
    const { manager, table } = await createManager([
      withContext,
      unmarshalFails,
      withSchema,
      healthy.definition,
    ]);
    const [contextId, unmarshalId, argId, goodId] = await enqueueForTick(manager, [
      [withContext, {}, { context: { tenant: 'acme' } }],
      [unmarshalFails, {}, { context: { tenant: 'acme' } }],
      [withSchema, { orderId: 1 }],
      [healthy.definition, { n: 1 }],
    ]);
    await database.query(`update "${table}" set context = '{not json' where id = $1`, [contextId]);
    await database.query(`update "${table}" set arg = '{"wrong": true}'::jsonb where id = $1`, [argId]);

    const report = await manager.tick();
    expect(report).toMatchObject({ claimed: 4, succeeded: 1, failed: 3, retried: 0 });
    expect(ran).toEqual([]);
    const corruptContext = await taskOf(manager, contextId!);
    expect(corruptContext).toMatchObject({ status: 'failed', attempts: 1, maxAttempts: 4 });
    expect(corruptContext.lastError).toContain('stored context could not be restored');
    expect(corruptContext.lastError).toContain('SyntaxError');
    const unmarshal = await taskOf(manager, unmarshalId!);
    expect(unmarshal).toMatchObject({ status: 'failed', attempts: 1 });
    expect(unmarshal.lastError).toContain('stored context could not be restored: Error: tenant unknown');
    const corruptArg = await taskOf(manager, argId!);
    expect(corruptArg).toMatchObject({ status: 'failed', attempts: 1, maxAttempts: 4 });
    expect(corruptArg.lastError).toContain('stored argument is invalid');
    expect(corruptArg.lastError).toContain('orderId');
    await expectSucceeded(manager, goodId!);
    expect(healthy.seen).toEqual([1]);
  });
});

describe('retry delays from bad values', () => {
  it.each([
    [
      'throws',
      () => {
        throw new Error('no interval today');
      },
    ],
    ['returns NaN', () => Number.NaN],
    ['returns Infinity', () => Number.POSITIVE_INFINITY],
    ['returns a negative number', () => -500],
    ['returns a string', () => '1000' as unknown as number],
  ])('a retryInterval that %s still retries, with no delay', async (_what, retryInterval) => {
    const attempts: number[] = [];
    const flaky = defineTask({
      key: 'flaky',
      retryTimes: 1,
      retryInterval,
      handler: (_arg, ctx) => {
        attempts.push(ctx.attempt);
        if (ctx.attempt === 1) throw new Error('first attempt fails');
      },
    });
    const healthy = healthyTask();
    const { manager } = await createManager([flaky, healthy.definition]);
    const [flakyId, goodId] = await enqueueForTick(manager, [
      [flaky, {}],
      [healthy.definition, { n: 1 }],
    ]);
    const report = await manager.tick();
    expect(report).toMatchObject({ retried: 1, succeeded: 2, failed: 0 });
    expect(attempts).toEqual([1, 2]);
    expect(await taskOf(manager, flakyId!)).toMatchObject({ status: 'succeeded', attempts: 2 });
    await expectSucceeded(manager, goodId!);
  });

  it('a retryInterval returning a delay too large for the database still records the retry', async () => {
    const flaky = defineTask({
      key: 'far-future',
      retryTimes: 1,
      retryInterval: () => 1e300,
      handler: () => {
        throw new Error('first attempt fails');
      },
    });
    const { manager } = await createManager([flaky]);
    const [id] = await enqueueForTick(manager, [[flaky, {}]]);
    await manager.tick();
    const task = await taskOf(manager, id!);
    expect(task.status, 'the failure must be recorded, not left running until the lease expires').not.toBe(
      'running',
    );
    expect(task.lastError).toContain('first attempt fails');
  });

  it('RetryAfter(NaN) retries with no delay instead of leaving the task running', async () => {
    const attempts: number[] = [];
    const retryLater = defineTask({
      key: 'retry-after-nan',
      retryTimes: 1,
      handler: (_arg, ctx) => {
        attempts.push(ctx.attempt);
        if (ctx.attempt === 1) throw new RetryAfter(Number('not a header value'));
      },
    });
    const { manager } = await createManager([retryLater]);
    const [id] = await enqueueForTick(manager, [[retryLater, {}]]);
    await manager.tick();
    expect(attempts).toEqual([1, 2]);
    expect(await taskOf(manager, id!)).toMatchObject({ status: 'succeeded', attempts: 2 });
  });

  it('RetryAfter(Infinity) does not park the task forever nor break reads of the table', async () => {
    const retryNever = defineTask({
      key: 'retry-after-infinity',
      retryTimes: 1,
      handler: (_arg, ctx) => {
        if (ctx.attempt === 1) throw new RetryAfter(Number.POSITIVE_INFINITY);
      },
    });
    const { manager, table } = await createManager([retryNever]);
    const [id] = await enqueueForTick(manager, [[retryNever, {}]]);
    await manager.tick();
    const [row] = await database.query<{ run_at: string }>(
      `select run_at::text from "${table}" where id = $1`,
      [id],
    );
    expect(row?.run_at).not.toBe('infinity');
    await expect(manager.getTask(id!)).resolves.not.toBeNull();
    await expect(manager.listTasks()).resolves.toHaveLength(1);
  });
});

describe('maintenance and transactions', () => {
  it.each([
    [
      'throws',
      () => {
        throw new Error('pager is down');
      },
    ],
    [
      'rejects',
      async () => {
        throw new Error('pager is down');
      },
    ],
  ])('a checkCallback that %s is logged and the tick still resolves', async (_what, callback) => {
    const reported: unknown[] = [];
    const broken = defineTask({
      key: 'broken',
      handler: () => {
        throw new Error('always fails');
      },
    });
    const healthy = healthyTask();
    const { logger, entries } = capturingLogger();
    const { manager } = await createManager([broken, healthy.definition], {
      logger,
      maintenanceInterval: 10,
      checkCallback: (_logger, abnormal) => {
        reported.push(...abnormal.map(({ reason, task }) => ({ reason, key: task.key })));
        return callback();
      },
    });
    await manager.enqueue(broken, {});
    const [goodId] = await enqueueForTick(manager, [[healthy.definition, { n: 1 }]]);

    const report = await manager.tick();
    expect(report).toMatchObject({ maintenance: true, abnormal: 1, succeeded: 1 });
    expect(reported).toEqual([{ reason: 'failed', key: 'broken' }]);
    const logged = entries.find((entry) => entry.message.startsWith('checkCallback threw'));
    expect(logged?.level).toBe('error');
    expect(String(logged?.fields.error)).toContain('pager is down');
    await expectSucceeded(manager, goodId!);
  });

  it('a transaction whose body throws after enqueue rejects with that error, writes nothing and runs nothing', async () => {
    const ran: unknown[] = [];
    const inTransaction = defineTask({
      key: 'in-transaction',
      handler: (arg: { n: number }) => {
        ran.push(arg);
      },
    });
    const { manager, countRows } = await createManager([inTransaction]);
    const failure = new Error('order rejected after enqueue');
    await expect(
      manager.transaction(async (tx) => {
        await manager.enqueue(inTransaction, { n: 1 }, { tx });
        throw failure;
      }),
    ).rejects.toBe(failure);
    expect(await countRows()).toBe(0);
    expect(await manager.tick()).toMatchObject({ claimed: 0 });
    expect(ran).toEqual([]);
  });
});
