/**
 * Vercel's request context the way its runtime provides it and `@vercel/functions` reads it: an
 * object under `Symbol.for('@vercel/request-context')` whose `get()` answers the context of the
 * request in progress (kept in an AsyncLocalStorage), and undefined outside any request.
 */
import { AsyncLocalStorage } from 'node:async_hooks';

interface RequestContext {
  waitUntil: (promise: Promise<unknown>) => void;
  headers: Record<string, string>;
  deadline?: string;
}

const requests = new AsyncLocalStorage<RequestContext>();
(globalThis as Record<symbol, unknown>)[Symbol.for('@vercel/request-context')] = {
  get: () => requests.getStore(),
};

export interface VercelRequest {
  /** Runs `fn` as the request's handler. */
  run<T>(fn: () => T): T;
  /** What the handler passed to `waitUntil`. */
  handed: Promise<unknown>[];
  /** Awaits everything handed to `waitUntil`, including what is handed while waiting. */
  settle(): Promise<void>;
}

/** One request's context; `deadlineInMs` sets the invocation deadline `getDeadline()` reports. */
export function vercelRequest(options: { deadlineInMs?: number } = {}): VercelRequest {
  const handed: Promise<unknown>[] = [];
  const context: RequestContext = {
    waitUntil: (promise) => void handed.push(promise),
    headers: { 'x-vercel-id': `fra1::iad1::${Math.random().toString(36).slice(2)}` },
    ...(options.deadlineInMs === undefined
      ? {}
      : { deadline: new Date(Date.now() + options.deadlineInMs).toISOString() }),
  };
  return {
    run: (fn) => requests.run(context, fn),
    handed,
    async settle() {
      for (let settled = 0; settled < handed.length; settled++) await handed[settled];
    },
  };
}
