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
  | 'concurrentSessions';

export interface DriverUnderTest {
  /** The drizzle entry point users import, such as `drizzle-orm/neon-http`. */
  name: string;
  /** A fresh, empty database reached through this driver; the suite closes it. */
  open(): Promise<TestDatabase>;
  /** Each capability the driver lacks, with the reason it truly cannot have it. */
  lacks?: Partial<Record<Capability, string>>;
}

type TestBody = () => Promise<void>;

/** `it` for a test that needs `capability`; on a driver that lacks it, the test is skipped, saying why. */
export function itNeeding(
  driver: DriverUnderTest,
  capability: Capability,
): (name: string, body: TestBody) => void {
  const reason = driver.lacks?.[capability];
  if (reason === undefined) return (name, body) => it(name, body);
  return (name, body) => it.skip(`${name} [opted out on ${driver.name}: ${reason}]`, body);
}
