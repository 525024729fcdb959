/**
 * Fuzzing enqueue: thousands of generated arguments and option objects. Every call either
 * returns an id whose stored argument reads back equal to the JSON of the input, or rejects with a
 * typed gta error other than a storage error. Nothing else may escape, and nothing half-written
 * may remain.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createTaskManager,
  defineTask,
  isGtaError,
  silentLogger,
  type TaskManager,
} from '../../core/src/index.js';
import { createPgliteDatabase, type TestDatabase } from '../../core/test/support/databases.js';

const options = fc.record(
  {
    runAt: fc.oneof(fc.date({ noInvalidDate: false }), fc.string(), fc.integer(), fc.constant(null)),
    delayMs: fc.oneof(fc.double(), fc.integer(), fc.string(), fc.constant(Number.NaN)),
    dedupeKey: fc.oneof(fc.string({ maxLength: 300 }), fc.integer(), fc.constant(null)),
    sequenceKey: fc.oneof(fc.string({ maxLength: 300 }), fc.boolean()),
    context: fc.anything(),
  },
  { requiredKeys: [] },
);

describe('enqueue under generated input', () => {
  let database: TestDatabase;
  let manager: TaskManager<any>;
  const task = defineTask({ key: 'fuzzed', handler: () => {} });

  beforeAll(async () => {
    database = await createPgliteDatabase();
    // Each case enqueues in a foreign transaction: validation, then the real insert, no handler run.
    manager = createTaskManager({ db: database.db, tasks: [task], logger: silentLogger });
    await manager.migrate();
  });
  afterAll(() => database.close());

  it('returns an id or a typed rejection for any argument and options', async () => {
    let accepted = 0;
    let rejected = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.anything({ withBigInt: true, withDate: true, withMap: true, withNullPrototype: true }),
        options,
        async (arg, opts) => {
          try {
            const id = await database.db.transaction((tx: any) =>
              manager.enqueue(task, arg as never, { ...(opts as object), tx }),
            );
            accepted++;
            const stored = await manager.getTask(id);
            expect(stored?.arg).toEqual(JSON.parse(JSON.stringify(arg)));
          } catch (error) {
            rejected++;
            expect(isGtaError(error), String(error)).toBe(true);
            expect((error as { code: string }).code).not.toBe('GTA_STORAGE_ERROR');
          }
        },
      ),
      { numRuns: 2000 },
    );
    expect(accepted).toBeGreaterThan(0);
    expect(rejected).toBeGreaterThan(0);
  }, 120_000);
});
