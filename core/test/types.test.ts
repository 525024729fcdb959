import { drizzle } from 'drizzle-orm/pglite';
import { describe, expectTypeOf, it } from 'vitest';
import { createTaskManager, defineTask, type TaskContext } from '../src/index.js';

describe('public types', () => {
  it('types the transaction a manager hands out after the driver, and arguments after the task', () => {
    const db = drizzle.mock();
    const task = defineTask({
      key: 'typed',
      handler: (arg: { orderId: number }, ctx) => ctx.attempt + arg.orderId,
    });
    const manager = createTaskManager({ db, tasks: [task], dryRun: true });
    type Tx = Parameters<Parameters<typeof manager.transaction<void>>[0]>[0];
    expectTypeOf<Tx>().not.toBeAny();
    expectTypeOf<Tx>().toHaveProperty('rollback');
    expectTypeOf<Tx>().toHaveProperty('select');
    expectTypeOf(manager.enqueue<typeof task>)
      .parameter(1)
      .toEqualTypeOf<{ orderId: number }>();
    expectTypeOf(task.handler).parameter(1).toEqualTypeOf<TaskContext<unknown>>();
  });
});
