/** The semantics suite, written once and run against each drizzle driver gta supports. */
import { afterAll, beforeAll, describe } from 'vitest';
import type { TestDatabase } from '../support/databases.js';
import type { DriverUnderTest } from './driver.js';
import { enqueueSemantics } from './enqueue.js';
import { executionSemantics } from './execution.js';
import { type Harness, harness } from './harness.js';
import { hookSemantics } from './hooks.js';
import { groupLimitSemantics } from './limits.js';
import { managerOptionSemantics } from './manager-options.js';
import { scanningSemantics } from './scanning.js';
import { scheduleSemantics } from './schedules.js';

/** The suite on `driver`; tests needing a capability the driver lacks are skipped with its reason. */
export function defineDriverSuite(driver: DriverUnderTest) {
  describe(`GTA semantics on ${driver.name}`, () => {
    let current: Harness;
    beforeAll(async () => {
      current = harness(await driver.open(), driver);
    });
    afterAll(async () => {
      await current?.database.close();
    });
    const h = () => current;
    enqueueSemantics(h, driver);
    executionSemantics(h, driver);
    scanningSemantics(h, driver);
    groupLimitSemantics(h, driver);
    scheduleSemantics(h);
    hookSemantics(h);
    managerOptionSemantics(h);
  });
}

/** The suite on a driver with every capability the suite needs (PGlite, node-postgres). */
export function defineSemanticsSuite(name: string, open: () => Promise<TestDatabase>) {
  defineDriverSuite({ name, open });
}
