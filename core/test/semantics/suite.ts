/** The semantics suite, written once and run against each database the core supports. */
import { afterAll, beforeAll, describe } from 'vitest';
import type { TestDatabase } from '../support/databases.js';
import { enqueueSemantics } from './enqueue.js';
import { executionSemantics } from './execution.js';
import { type Harness, harness } from './harness.js';
import { managerOptionSemantics } from './manager-options.js';
import { scanningSemantics } from './scanning.js';

export function defineSemanticsSuite(name: string, open: () => Promise<TestDatabase>) {
  describe(`GTA semantics on ${name}`, () => {
    let current: Harness;
    beforeAll(async () => {
      current = harness(await open());
    });
    afterAll(async () => {
      await current?.database.close();
    });
    const h = () => current;
    enqueueSemantics(h);
    executionSemantics(h);
    scanningSemantics(h);
    managerOptionSemantics(h);
  });
}
