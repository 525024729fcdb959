/**
 * The drizzle driver a suite runs on: how to open a database through it, and what it cannot do.
 * A test that needs a missing capability is skipped with the driver's reason in its name, so an
 * opt-out shows in the report as skipped, never as passed.
 */
import { it } from 'vitest';
import type { TestDatabase } from '../support/databases.js';

export type Capability =
  /** `db.transaction(fn)`: statements sent one by one inside an open transaction, and savepoints. */
  | 'interactiveTransactions'
  /** Several connections at once, so one statement can wait on another's lock. */
  | 'concurrentSessions'
  /**
   * A database the test reaches with SQL of its own (its own tables, the task table's rows, a
   * transaction gta did not open).
   */
  | 'sql';

export interface DriverUnderTest {
  /** The drizzle entry point users import, such as `drizzle-orm/neon-http`. */
  name: string;
  /** A fresh, empty database reached through this driver; the suite closes it. */
  open(): Promise<TestDatabase>;
  /** Each capability the driver lacks, with the reason it truly cannot have it. */
  lacks?: Partial<Record<Capability, string>>;
  /** The managers keep their task table in memory (`dryRun`) instead of in the database. */
  dryRun?: true;
}

type TestBody = () => Promise<void>;

/**
 * `it` for a test that needs every one of `capabilities`; on a driver that lacks one, the test is
 * skipped, saying why.
 */
export function itNeeding(
  driver: DriverUnderTest,
  ...capabilities: Capability[]
): (name: string, body: TestBody) => void {
  const lacking = capabilities.find((capability) => driver.lacks?.[capability] !== undefined);
  if (lacking === undefined) return (name, body) => it(name, body);
  const reason = driver.lacks![lacking];
  return (name, body) => it.skip(`${name} [opted out on ${driver.name}: ${reason}]`, body);
}
