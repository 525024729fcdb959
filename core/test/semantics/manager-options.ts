/** Manager options whose effect shows only in a run: logger, taskTimeout, waitUntil, scan intervals. */
import { describe, expect, it } from 'vitest';
import { defineTask, type LogFields } from '../../src/index.js';
import { eventually, type Harness, waitUntilCollector } from './harness.js';

export function managerOptionSemantics(h: () => Harness) {
  describe('manager options in a run', () => {
    it('writes to the given pino-style logger: a final failure is a warning with the task’s fields', async () => {
      const entries: { level: string; fields: LogFields; message: string | undefined }[] = [];
      const record = (level: string) => (fields: LogFields, message?: string) =>
        void entries.push({ level, fields, message });
      const logger = {
        debug: record('debug'),
        info: record('info'),
        warn: record('warn'),
        error: record('error'),
      };
      const task = defineTask({
        key: 'logged',
        handler: () => {
          throw new Error('out of stock');
        },
      });
      const manager = await h().manager([task], { logger });
      const id = await manager.enqueue(task, {});
      const failure = entries.find((entry) => entry.message === 'task failed');
      expect(failure?.level).toBe('warn');
      expect(failure?.fields).toMatchObject({ taskId: id, taskKey: 'logged', attempt: 1 });
      expect(String(failure?.fields.error)).toBe('attempt 1: Error: out of stock');
    });

    it('applies taskTimeout to tasks that set no timeoutMs', async () => {
      const task = defineTask({ key: 'default-timeout', handler: () => new Promise(() => {}) });
      const manager = await h().manager([task], { taskTimeout: 40 });
      const id = await manager.enqueue(task, {});
      const row = await manager.getTask(id);
      expect(row).toMatchObject({ status: 'failed', timeoutMs: 40 });
      expect(row?.lastError).toContain('timed out after 40 ms');
    });

    it('hands commit-hook work to the manager’s waitUntil when the call gives none', async () => {
      const task = defineTask({ key: 'default-wait-until', handler: () => {} });
      const collector = waitUntilCollector();
      const manager = await h().manager([task], { waitUntil: collector.waitUntil });
      const id = await manager.enqueue(task, {});
      await h().enqueueWithCommitHook(manager, task, [{}]);
      expect(collector.handed).toHaveLength(2);
      await collector.settle();
      expect((await manager.getTask(id))?.status).toBe('succeeded');
    });

    it('the runner finds tasks committed after it started, within scanInterval', async () => {
      const task = defineTask({ key: 'late-arrival', handler: () => {} });
      const manager = await h().manager([task], { scanInterval: 40, instantScanInterval: 5 });
      manager.start();
      try {
        await new Promise((resolve) => setTimeout(resolve, 60));
        const [id] = await h().enqueueForScanner(manager, task, [{}]);
        await eventually(
          async () => ((await manager.getTask(id!))?.status === 'succeeded' ? true : undefined),
          3000,
        );
      } finally {
        await manager.stop();
      }
    });

    it('the runner scans every instantScanInterval while due tasks remain, not every scanInterval', async () => {
      const task = defineTask({ key: 'backlog', handler: () => {} });
      // With only the one-minute idle scan, a cap of 2 would take three minutes for six tasks.
      const manager = await h().manager([task], {
        scanInterval: 60_000,
        instantScanInterval: 5,
        concurrency: 2,
      });
      await h().enqueueForScanner(manager, task, [{}, {}, {}, {}, {}, {}]);
      manager.start();
      try {
        await eventually(
          async () => ((await manager.stats()).byStatus.succeeded === 6 ? true : undefined),
          10_000,
        );
      } finally {
        await manager.stop();
      }
    });
  });
}
