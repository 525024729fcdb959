/**
 * The counting of work in progress and the scope's waits that replace sets of promises: they must
 * settle exactly when the work has, and wake a waiter only when it asked to be woken.
 */
import { describe, expect, it } from 'vitest';
import { Scope } from '../src/slots.js';
import { WorkInProgress } from '../src/work.js';

/** Whether `promise` has settled after the current microtasks ran. */
async function settledNow(promise: Promise<unknown>): Promise<boolean> {
  let settled = false;
  void promise.then(() => {
    settled = true;
  });
  await new Promise((resolve) => setTimeout(resolve, 0));
  return settled;
}

describe('WorkInProgress', () => {
  it('is idle at once with nothing begun', async () => {
    expect(await settledNow(new WorkInProgress().idle())).toBe(true);
  });

  it('becomes idle when the last piece ends, including work begun while waiting', async () => {
    const work = new WorkInProgress();
    work.begin();
    const idle = work.idle();
    work.begin();
    work.end();
    expect(work.count).toBe(1);
    expect(await settledNow(idle)).toBe(false);
    work.end();
    expect(await settledNow(idle)).toBe(true);
  });

  it('counts a tracked promise until it settles', async () => {
    const work = new WorkInProgress();
    let finish!: () => void;
    work.track(
      new Promise<void>((resolve) => {
        finish = resolve;
      }),
    );
    expect(work.count).toBe(1);
    const idle = work.idle();
    expect(await settledNow(idle)).toBe(false);
    finish();
    expect(await settledNow(idle)).toBe(true);
    expect(work.count).toBe(0);
  });

  it('ends a tracked promise that rejects all the same', async () => {
    const work = new WorkInProgress();
    work.track(Promise.reject(new Error('not expected, yet handled')));
    expect(await settledNow(work.idle())).toBe(true);
  });
});

describe('Scope.nextChange', () => {
  it('wakes only once its condition holds when work ends', async () => {
    const scope = new Scope(10, undefined);
    scope.workBegun();
    scope.workBegun();
    scope.workBegun();
    let ready = false;
    const change = scope.nextChange(60_000, () => ready);
    scope.workEnded();
    expect(await settledNow(change)).toBe(false);
    ready = true;
    scope.workEnded();
    expect(await settledNow(change)).toBe(true);
    expect(scope.workDone).toBe(2);
  });

  it('wakes when the last work ends, whatever its condition says', async () => {
    const scope = new Scope(10, undefined);
    scope.workBegun();
    const change = scope.nextChange(60_000, () => false);
    scope.workEnded();
    expect(await settledNow(change)).toBe(true);
  });

  it('resolves at its timeout and is not woken again after it', async () => {
    const scope = new Scope(10, undefined);
    scope.workBegun();
    scope.workBegun();
    let asked = 0;
    const change = scope.nextChange(5, () => {
      asked++;
      return false;
    });
    await change;
    scope.workEnded();
    expect(asked).toBe(0);
  });
});
