/**
 * The semantics suite on a dry run: the same tests, on managers whose task table is in memory.
 * What applies to a dry run holds there as on the database; tests that need SQL of their own are
 * skipped with that reason in their names.
 */

import { noDatabase } from './semantics/harness.js';
import { defineDriverSuite } from './semantics/suite.js';

defineDriverSuite({
  name: 'dryRun (memory table)',
  open: async () => noDatabase(),
  dryRun: true,
  lacks: {
    sql: 'the task table is in memory and there is no database: no SQL of the test’s own reaches either',
    concurrentSessions: 'one process’s memory: no statement waits on another’s lock',
  },
});
