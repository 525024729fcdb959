import { drizzle } from 'drizzle-orm/pglite';
import { describe, expect, expectTypeOf, it } from 'vitest';
import { z } from 'zod';
import { createTaskManager, defineTask, type TaskContext } from '../src/index.js';

// These tests are checked by the type checker (`npm run typecheck`, part of `npm test`): each
// `@ts-expect-error` fails the check when the line below it stops being an error.

const placeOrder = defineTask({
  key: 'place-order',
  handler: (arg: { orderId: number }, ctx) => ctx.attempt + arg.orderId,
});
const sendWelcome = defineTask({
  key: 'send-welcome',
  handler: (_arg: { userId: number }) => undefined,
});
const remind = defineTask({
  key: 'remind',
  handler: (_arg: { at: Date; note?: string }) => undefined,
});
const remindWithSchema = defineTask({
  key: 'remind-with-schema',
  schema: z.object({ at: z.coerce.date() }),
  handler: (arg) => arg.at.getTime(),
});

describe('public types', () => {
  it('types the transaction a manager hands out after the driver, and arguments after the task', () => {
    const db = drizzle.mock();
    const manager = createTaskManager({ db, tasks: [placeOrder], dryRun: true });
    type Tx = Parameters<Parameters<typeof manager.transaction<void>>[0]>[0];
    expectTypeOf<Tx>().not.toBeAny();
    expectTypeOf<Tx>().toHaveProperty('rollback');
    expectTypeOf<Tx>().toHaveProperty('select');
    expectTypeOf(manager.enqueue<typeof placeOrder>)
      .parameter(1)
      .toEqualTypeOf<{ orderId: number }>();
    expectTypeOf(placeOrder.handler).parameter(1).toEqualTypeOf<TaskContext<unknown>>();
  });

  it('types an enqueue by key from the manager’s tasks, and refuses a key it does not hold', async () => {
    const manager = createTaskManager({ tasks: [placeOrder, sendWelcome], dryRun: true });
    expectTypeOf(placeOrder.key).toEqualTypeOf<'place-order'>();
    expectTypeOf(manager.enqueue<'send-welcome'>)
      .parameter(1)
      .toEqualTypeOf<{ userId: number }>();
    await manager.enqueue('send-welcome', { userId: 1 });
    await manager.enqueueMany('place-order', [{ orderId: 1 }, { orderId: 2 }]);
    // Checked by the type checker only: run, it would enqueue (the task has no schema).
    const wrongArgument = () =>
      // @ts-expect-error the argument of send-welcome is { userId: number }
      manager.enqueue('send-welcome', { userId: 'not a number', extra: true });
    expectTypeOf(wrongArgument).returns.resolves.toEqualTypeOf<number>();
    // @ts-expect-error no task of this manager is called send-welcomes
    await expect(manager.enqueue('send-welcomes', { userId: 1 })).rejects.toThrow(/no task registered/);
    // A definition is accepted whether or not it was listed: it is looked up by its key at run time.
    await expect(manager.enqueue(remindWithSchema, { at: new Date() })).rejects.toThrow(/no task registered/);
  });

  it('types a key added with register on the manager register returns', async () => {
    const manager = createTaskManager({ tasks: [placeOrder], dryRun: true }).register(sendWelcome);
    await manager.enqueue('send-welcome', { userId: 1 });
    // @ts-expect-error the argument of place-order is { orderId: number }
    const wrongArgument = () => manager.enqueue('place-order', { userId: 1 });
    expectTypeOf(wrongArgument).returns.resolves.toEqualTypeOf<number>();
  });

  it('leaves an enqueue by key untyped on a manager whose tasks are not known to the types', async () => {
    const tasks: Parameters<typeof createTaskManager>[0]['tasks'] = [sendWelcome];
    const manager = createTaskManager({ tasks, dryRun: true });
    expectTypeOf(manager.enqueue<'anything'>)
      .parameter(1)
      .toEqualTypeOf<unknown>();
    await manager.enqueue('send-welcome', { userId: 1 });
  });

  it('refuses a value JSON does not carry back, unless a schema turns it back', async () => {
    const manager = createTaskManager({ tasks: [remind, remindWithSchema], dryRun: true });
    // @ts-expect-error without a schema the handler would get an ISO string, not a Date
    await expect(manager.enqueue(remind, { at: new Date() })).rejects.toThrow(/a Date reaches the handler/);
    // @ts-expect-error the same by key
    await expect(manager.enqueue('remind', { at: new Date(), note: 'x' })).rejects.toThrow(/a Date/);
    const counts = defineTask({
      key: 'counts',
      handler: (_arg: { counts: Map<string, number> }) => undefined,
    });
    // @ts-expect-error a Map has no JSON form
    await expect(manager.register(counts).enqueue(counts, { counts: new Map() })).rejects.toThrow(/Map/);
    await manager.enqueue('remind-with-schema', { at: new Date() });
    await manager.enqueue(remindWithSchema, { at: '2026-12-02T00:00:00Z' });
  });
});
