import { describe, expect, it } from 'vitest';
import { createTaskManager, defineTask, isGtaError, silentLogger } from '../src/index.js';

const task = defineTask({ key: 'noop', handler: () => {} });
const make = (options: Record<string, unknown>) =>
  createTaskManager({ dryRun: true, logger: silentLogger, tasks: [task], ...options });

function optionError(options: Record<string, unknown>): string {
  try {
    make(options);
  } catch (error) {
    expect(isGtaError(error, 'GTA_INVALID_OPTION')).toBe(true);
    return (error as Error).message;
  }
  throw new Error(`options ${JSON.stringify(options)} were accepted`);
}

describe('manager options (GTA rules)', () => {
  it('applies the documented defaults', () => {
    const { options } = make({});
    expect(options).toMatchObject({
      table: 'gta_tasks',
      storageTimeout: 7 * 24 * 3600_000,
      initializedTimeout: 5 * 60_000,
      runningTimeout: 30 * 60_000,
      waitTimeout: Number.POSITIVE_INFINITY,
      scanInterval: 5000,
      instantScanInterval: 100,
      concurrency: 10,
      dryRun: true,
    });
  });

  it.each([
    'storageTimeout',
    'initializedTimeout',
    'runningTimeout',
    'waitTimeout',
    'scanInterval',
    'instantScanInterval',
    'taskTimeout',
    'leaseMargin',
    'maintenanceInterval',
    'maxArgumentBytes',
  ])('refuses %s ≤ 0 or NaN', (name) => {
    expect(optionError({ [name]: 0 })).toContain(`${name} must be a number > 0`);
    expect(optionError({ [name]: -5 })).toContain(name);
    expect(optionError({ [name]: Number.NaN })).toContain(name);
  });

  it('refuses running, initialized or scan periods beyond storageTimeout', () => {
    expect(optionError({ storageTimeout: 1000, runningTimeout: 2000, taskTimeout: 500 })).toContain(
      'runningTimeout (2000 ms) must not exceed storageTimeout',
    );
    expect(
      optionError({ storageTimeout: 1000, runningTimeout: 1000, taskTimeout: 500, initializedTimeout: 2000 }),
    ).toContain('initializedTimeout');
    expect(
      optionError({
        storageTimeout: 1000,
        runningTimeout: 1000,
        taskTimeout: 500,
        initializedTimeout: 1000,
        scanInterval: 2000,
      }),
    ).toContain('scanInterval');
  });

  it('refuses an instant scan slower than the idle scan, and a task timeout beyond runningTimeout', () => {
    expect(optionError({ scanInterval: 100, instantScanInterval: 200 })).toContain('instantScanInterval');
    expect(optionError({ runningTimeout: 1000, taskTimeout: 2000 })).toContain('taskTimeout');
  });

  it('refuses a concurrency that is not a whole number ≥ 1, a bad table name, and a missing db', () => {
    expect(optionError({ concurrency: 0 })).toContain('concurrency');
    expect(optionError({ concurrency: 1.5 })).toContain('concurrency');
    expect(optionError({ table: 'Robert"; drop table x' })).toContain('table');
    expect(optionError({ dryRun: false })).toContain('db is required');
  });
});
