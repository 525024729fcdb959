/**
 * A task's attempt history: every attempt that ended, oldest first, kept in the row's
 * `attempt_history` (jsonb) as it ends, at most {@link HISTORY_LIMIT} of them. A success is not
 * written there as it happens, since the row itself shows it (its start, its end, `succeeded`) and a
 * drain of quick tasks should not pay for a copy; a forced rerun of a succeeded task moves that
 * success into the history, so a rerun never erases an attempt.
 * @module
 */
import { type SQL, sql } from 'drizzle-orm';
import type { AttemptOutcome, AttemptRecord } from '../types.js';

/** Most attempts kept per task; the oldest are dropped beyond it. */
export const HISTORY_LIMIT = 25;

/** One ended attempt, as SQL expressions over the row being written (`attempts` is its number). */
export interface EndedAttempt {
  startedAt: SQL;
  endedAt: SQL;
  /** An expression of {@link AttemptOutcome} text. */
  outcome: SQL;
  error: SQL;
}

const STORED = sql`coalesce(attempt_history, '[]'::jsonb)`;

/** The row's history with `attempt` appended, its oldest entry dropped when it is full. */
export function withAttempt(attempt: EndedAttempt): SQL {
  return sql`(case when jsonb_array_length(${STORED}) >= ${HISTORY_LIMIT}::int then ${STORED} - 0 else ${STORED} end)
    || jsonb_build_array(jsonb_build_object('attempt', attempts, 'startedAt', ${attempt.startedAt},
      'endedAt', ${attempt.endedAt}, 'outcome', (${attempt.outcome})::text, 'error', (${attempt.error})::text))`;
}

/** What a stored entry holds before its times are read; written by SQL or by the dry run. */
interface StoredAttempt {
  attempt: number;
  startedAt: string | number | null;
  endedAt: string | number;
  outcome: AttemptOutcome;
  error: string | null;
}

/** `history` (the stored JSON text, or null for none) with `attempt` appended, for the dry run. */
export function appendedHistory(history: string | null, attempt: StoredAttempt): string {
  const entries = history === null ? [] : (JSON.parse(history) as StoredAttempt[]);
  entries.push(attempt);
  return JSON.stringify(entries.slice(-HISTORY_LIMIT));
}

const iso = (time: string | number | null) => (time === null ? null : new Date(time).toISOString());

/** The stored history as the public rows read it: ISO-8601 times, oldest first. */
export function parseHistory(history: string | null): AttemptRecord[] {
  if (history === null) return [];
  return (JSON.parse(history) as StoredAttempt[]).map((entry) => ({
    attempt: Number(entry.attempt),
    startedAt: iso(entry.startedAt),
    endedAt: iso(entry.endedAt)!,
    outcome: entry.outcome,
    error: entry.error,
  }));
}
