/**
 * What autovacuum does on the bench database while a measurement runs, sampled from
 * `pg_stat_activity` every 100 ms on a connection of its own: a drain that shares the machine with
 * an autovacuum worker (or whose table it just vacuumed) is not the same drain.
 * @module
 */
import { performance } from 'node:perf_hooks';
import pg from 'pg';

const EVERY_MS = 100;

export interface AutovacuumWatch {
  /** Marks the start of the part of interest (the timed drain); samples before it count apart. */
  mark(): void;
  /** Stops sampling; the autovacuum passes seen after the mark (e.g. `VACUUM public.jobs`), each once. */
  stop(): Promise<string[]>;
}

export async function watchAutovacuum(url: string): Promise<AutovacuumWatch> {
  const client = new pg.Client({ connectionString: url });
  client.on('error', () => {});
  await client.connect();
  let markedAt = Number.POSITIVE_INFINITY;
  const seen = new Set<string>();
  let stopped = false;
  const loop = (async () => {
    while (!stopped) {
      const at = performance.now();
      try {
        const { rows } = await client.query<{ query: string }>(
          `select query from pg_stat_activity
           where backend_type = 'autovacuum worker' and datname = current_database() and query <> ''`,
        );
        if (at >= markedAt) for (const row of rows) seen.add(row.query.replace(/^autovacuum:\s*/, ''));
      } catch {
        return;
      }
      await new Promise((resolve) => setTimeout(resolve, EVERY_MS));
    }
  })();
  return {
    mark: () => {
      markedAt = performance.now();
    },
    stop: async () => {
      stopped = true;
      await loop;
      await client.end().catch(() => {});
      return [...seen];
    },
  };
}
