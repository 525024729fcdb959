/**
 * The manager's hooks (SPEC §15) on one driver: each attempt's start and end reported once, with
 * what it was; a hook that throws or rejects is logged and changes nothing.
 */
import { describe, expect, it } from 'vitest';
import {
  CancelTask,
  defineTask,
  ERROR_CODES,
  FailTask,
  isGtaError,
  type LogFields,
  type TaskHooks,
} from '../../src/index.js';
import type { Harness } from './harness.js';

/** Hooks that write down what they are told, as `<hook> <arg.n> <attempt> [detail's first line]`. */
function hookLog() {
  const seen: string[] = [];
  const n = (event: { task: { arg: unknown } }) => (event.task.arg as { n: number }).n;
  const hooks: TaskHooks = {
    onStart: (event) => void seen.push(`start ${n(event)} ${event.attempt}`),
    onSuccess: (event) => void seen.push(`success ${n(event)} ${event.attempt}`),
    onRetry: (event) => void seen.push(`retry ${n(event)} ${event.attempt} ${event.error.split('\n')[0]}`),
    onFailure: (event) =>
      void seen.push(`failure ${n(event)} ${event.attempt} ${event.error.split('\n')[0]}`),
    onCancel: (event) => void seen.push(`cancel ${n(event)} ${event.attempt} ${event.reason}`),
  };
  return { seen, hooks };
}

export function hookSemantics(h: () => Harness) {
  describe('hooks', () => {
    // Guarantee: each attempt calls onStart once, and its written outcome one ending hook, with
    // the attempt's number and, for a failure, the error as stored.
    it('reports every start and outcome once, with the attempt and the reason', async () => {
      const { seen, hooks } = hookLog();
      const task = defineTask({
        key: 'hooked',
        retryTimes: 1,
        retryInterval: () => 0,
        handler: ({ n }: { n: number }, ctx) => {
          if (n === 2 && ctx.attempt === 1) throw new Error('flaky');
          if (n === 3) throw new FailTask('broken');
          if (n === 4) throw new CancelTask('not wanted');
        },
      });
      const manager = await h().manager([task], { hooks });
      await h().enqueueForScanner(manager, task, [{ n: 1 }, { n: 2 }, { n: 3 }, { n: 4 }]);
      await manager.tick({ concurrency: 1 });
      await manager.tick({ concurrency: 1 });
      expect(seen.sort()).toEqual(
        [
          'start 1 1',
          'success 1 1',
          'start 2 1',
          'retry 2 1 attempt 1: Error: flaky',
          'start 2 2',
          'success 2 2',
          'start 3 1',
          'failure 3 1 attempt 1: FailTask: broken',
          'start 4 1',
          'cancel 4 1 not wanted',
        ].sort(),
      );
      const failed = (await manager.listTasks({ status: 'failed' }))[0]!;
      expect(seen).toContain(`failure 3 1 ${failed.lastError!.split('\n')[0]}`);
    });

    // Guarantee: a hook that throws, or whose promise rejects, is logged; the task's outcome and
    // the other hooks are unaffected.
    it('logs a hook that throws or rejects, and the task ends as it would without it', async () => {
      const errors: LogFields[] = [];
      const logger = {
        debug() {},
        info() {},
        warn() {},
        error: (fields: LogFields) => void errors.push(fields),
      };
      let succeeded = 0;
      const task = defineTask({ key: 'hook-breaker', handler: () => {} });
      const manager = await h().manager([task], {
        logger,
        hooks: {
          onStart: () => {
            throw new Error('start hook broke');
          },
          onSuccess: async () => {
            succeeded++;
            throw new Error('success hook broke');
          },
        },
      });
      const [id] = await h().enqueueForScanner(manager, task, [{}]);
      const report = await manager.tick();
      expect(report.succeeded).toBe(1);
      expect((await manager.getTask(id!))?.status).toBe('succeeded');
      expect(succeeded).toBe(1);
      expect(errors.map((fields) => [fields.hook, String(fields.error).split('\n')[0]])).toEqual([
        ['onStart', 'Error: start hook broke'],
        ['onSuccess', 'Error: success hook broke'],
      ]);
    });

    it('refuses hooks that are not functions', async () => {
      const error = await h()
        .manager([], { hooks: { onSuccess: 'log it' as never } })
        .catch((thrown: unknown) => thrown);
      expect(isGtaError(error, ERROR_CODES.invalidOption)).toBe(true);
      expect(String((error as Error).message)).toMatch(/hooks\.onSuccess must be a function/);
    });
  });
}
