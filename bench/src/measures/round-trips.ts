/**
 * 4. Round trips per task: the statements gta sends per completed task, counted by the wrapper
 * around node-postgres, on the commit-hook path (beyond the caller's BEGIN, insert and COMMIT) and
 * on the scanner path (repeated ticks draining a backlog).
 * @module
 */
import type { BenchConfig } from '../config.js';
import type { Gta } from '../systems/gta.js';

export interface RoundTripResult {
  path: 'commit hook' | 'scanner';
  tasks: number;
  /** Statements per kind over the whole run. */
  statements: Record<string, number>;
  /** Statements gta sent per task, beyond the caller's own on the commit-hook path. */
  perTask: number;
  /** Tasks claimed per claiming statement. */
  claimBatch: number;
}

const CLAIMING = ['claim', 'complete+claim'];

export async function measureRoundTrips(gta: Gta, config: BenchConfig): Promise<RoundTripResult[]> {
  const results: RoundTripResult[] = [];
  const hookTasks = Math.min(config.latencySamples, 300);
  const manager = await gta.manager(() => {});
  // Its first tick takes the maintenance round, which is no task's cost.
  await manager.tick({ budgetMs: 1, concurrency: 1 });
  gta.log.reset();
  for (let i = 0; i < hookTasks; i++) {
    const work: Promise<unknown>[] = [];
    await manager.transaction((tx) => manager.enqueue('noop', { i }, { tx }), {
      waitUntil: (promise) => work.push(promise),
    });
    await Promise.all(work);
  }
  const hook = gta.log.counts();
  const callers = (hook.begin ?? 0) + (hook.commit ?? 0) + (hook.enqueue ?? 0);
  results.push({
    path: 'commit hook',
    tasks: hookTasks,
    statements: hook,
    perTask: (gta.log.total() - callers) / hookTasks,
    claimBatch: hookTasks / CLAIMING.reduce((sum, kind) => sum + (hook[kind] ?? 0), 0),
  });
  await gta.pool.query(`drop table "${manager.options.table}"`);

  const run = await gta.drain(gta.drainVariants[0]!, {
    tasks: config.drainTasks,
    concurrency: config.concurrency,
    timeLimitMs: config.drainTimeLimitMs * 3,
  });
  const total = Object.values(run.statements).reduce((sum, n) => sum + n, 0);
  results.push({
    path: 'scanner',
    tasks: run.tasks,
    statements: run.statements,
    perTask: total / run.tasks,
    claimBatch: run.tasks / CLAIMING.reduce((sum, kind) => sum + (run.statements[kind] ?? 0), 0),
  });
  return results;
}
