/**
 * A database wrapper for forcing interleavings: each statement the engine sends is shown to a hook
 * first, by its operation name (`claim`, `complete and claim`, `confirm`, …, as the storage module
 * names them in its errors), and the hook may hold it back until the test opens a gate, or make the
 * database "die" so that nothing sent from then on ever answers (an invocation that ended).
 */
import type { SQL } from 'drizzle-orm';
import { PgDialect } from 'drizzle-orm/pg-core';

const dialect = new PgDialect();

/** The SQL text of a drizzle query, for hooks that match on it. */
export function sqlText(query: SQL): string {
  return dialect.sqlToQuery(query).sql;
}

export type StatementHook = (text: string) => Promise<void> | void;

export interface GatedDb {
  /** Pass this as the manager's `db`. */
  db: any;
  /** Called before every statement; its promise holds the statement back. */
  hook: StatementHook | null;
  /**
   * Called after every statement the database answered; throwing makes the statement fail after it
   * committed, as when the connection drops before its answer arrives.
   */
  answered: ((text: string) => void) | null;
  /** From now on no statement answers, as if the invocation's process had died. */
  die(): void;
  /** Statements sent after `die()`. */
  readonly lost: string[];
}

/** Wraps a drizzle database whose `execute` and `transaction` the engine uses. */
export function gatedDb(db: any): GatedDb {
  let dead = false;
  const lost: string[] = [];
  const gated: GatedDb = {
    hook: null,
    answered: null,
    lost,
    die() {
      dead = true;
    },
    db: {
      async execute(query: SQL) {
        const text = sqlText(query);
        if (dead) {
          lost.push(text);
          return new Promise(() => {});
        }
        await gated.hook?.(text);
        if (dead) {
          lost.push(text);
          return new Promise(() => {});
        }
        const result = await db.execute(query);
        gated.answered?.(text);
        return result;
      },
      transaction: (fn: (tx: any) => Promise<unknown>, config?: unknown) => db.transaction(fn, config),
      get $client() {
        return db.$client;
      },
    },
  };
  return gated;
}

/** Whether `text` is a claim statement (alone or riding with completions). */
export function isClaim(text: string): boolean {
  return text.includes('candidates as materialized');
}
