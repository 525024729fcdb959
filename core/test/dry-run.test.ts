import { describe, expect, it } from 'vitest';
import { createTaskManager, defineTask, silentLogger } from '../src/index.js';

describe('a dryRun manager', () => {
  it('filters listTasks by creation and update time as the table does', async () => {
    const later = defineTask({ key: 'later', handler: async () => {} });
    const manager = createTaskManager({ dryRun: true, tasks: [later], logger: silentLogger });
    const id = await manager.enqueue(later, {}, { delayMs: 60_000, waitUntil: () => {} });
    const past = new Date(Date.now() - 3_600_000);
    const future = new Date(Date.now() + 3_600_000);
    expect(await manager.listTasks({ createdAfter: future })).toEqual([]);
    expect(await manager.listTasks({ updatedAfter: future })).toEqual([]);
    expect(await manager.listTasks({ createdBefore: past })).toEqual([]);
    expect(
      (await manager.listTasks({ createdAfter: past, updatedBefore: future })).map((task) => task.id),
    ).toEqual([id]);
  });
});
