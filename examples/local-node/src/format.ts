/**
 * How the demo talks: console lines stamped with the time since start, and task errors shortened
 * to the one line a reader needs.
 * @module
 */

const startedAt = performance.now();

export function say(line: string): void {
  const seconds = ((performance.now() - startedAt) / 1000).toFixed(2).padStart(6);
  console.log(`[${seconds}s] ${line}`);
}

/**
 * `lastError` keeps the attempt number and the whole stack for operators; the story only needs
 * the message.
 */
export function errorSummary(lastError: string | null): string {
  if (lastError === null) return '';
  const [firstLine = ''] = lastError.split('\n');
  return firstLine.replace(/^attempt \d+: /, '').replace(/^Error: /, '');
}

/** Milliseconds between two ISO times, or null when either is missing. */
export function msBetween(from: string | null, to: string | null): number | null {
  if (from === null || to === null) return null;
  return Math.round(Date.parse(to) - Date.parse(from));
}

/** `task 4` or `tasks 2, 3`. */
export function taskList(ids: readonly number[]): string {
  return `${ids.length === 1 ? 'task' : 'tasks'} ${ids.join(', ')}`;
}
