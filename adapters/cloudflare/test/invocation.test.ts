/**
 * The invocation bookkeeping on its own, in Node with a recording context: what the workerd tests
 * cannot provoke on purpose (work handed in late, a failing close, a rejected promise).
 */
import { describe, expect, it } from 'vitest';
import { createWaitUntil, type WorkerContext } from '../src/index.js';
import { WorkerInvocation } from '../src/invocation.js';

function recordingContext(): WorkerContext & { handed: Promise<unknown>[] } {
  const handed: Promise<unknown>[] = [];
  return { handed, waitUntil: (promise) => void handed.push(promise) };
}

function recordingLogger() {
  const errors: string[] = [];
  const ignore = () => {};
  return {
    errors,
    logger: {
      debug: ignore,
      info: ignore,
      warn: ignore,
      error: (_: object, message?: string) => void errors.push(message ?? ''),
    },
  };
}

describe('createWaitUntil', () => {
  it('hands the work to ctx.waitUntil, and logs a rejection instead of leaving it unhandled', async () => {
    const ctx = recordingContext();
    const { errors, logger } = recordingLogger();
    createWaitUntil(ctx, { logger })(Promise.reject(new Error('mail API down')));
    expect(ctx.handed).toHaveLength(1);
    await expect(ctx.handed[0]).resolves.toBeUndefined();
    expect(errors).toEqual(['work handed to waitUntil failed']);
  });
});

describe('WorkerInvocation', () => {
  it('builds no manager until asked, then the same one for the whole invocation', () => {
    let built = 0;
    const invocation = new WorkerInvocation(recordingContext(), {}, () => {
      built++;
      return { options: { logger: recordingLogger().logger } } as never;
    });
    expect(invocation.started).toBe(false);
    expect(invocation.manager()).toBe(invocation.manager());
    expect(built).toBe(1);
  });

  it('closes only after the work handed to it has settled, including work handed while waiting', async () => {
    const ctx = recordingContext();
    const invocation = new WorkerInvocation(ctx, {}, () => ({}) as never);
    const steps: string[] = [];
    invocation.onDone(() => void steps.push('closed'));
    let finishFirst!: () => void;
    invocation.waitUntil(
      new Promise<void>((resolve) => {
        finishFirst = resolve;
      }).then(() => {
        steps.push('first');
        invocation.waitUntil(Promise.resolve().then(() => void steps.push('second')));
      }),
    );
    const settled = invocation.settle();
    finishFirst();
    await settled;
    expect(steps).toEqual(['first', 'second', 'closed']);
    expect(ctx.handed).toHaveLength(2);
  });

  it('logs a close that throws, and still settles', async () => {
    const { errors, logger } = recordingLogger();
    const invocation = new WorkerInvocation(recordingContext(), {}, () => ({ options: { logger } }) as never);
    invocation.manager();
    invocation.onDone(() => {
      throw new Error('socket already gone');
    });
    await expect(invocation.settle()).resolves.toBeUndefined();
    expect(errors).toEqual(['closing at the end of the invocation failed']);
  });

  it('copies only waitUntil and signal when spread into manager options', () => {
    const invocation = new WorkerInvocation(recordingContext(), {}, () => ({}) as never);
    expect(Object.keys({ ...invocation }).sort()).toEqual(['signal', 'waitUntil']);
  });
});
