/** What each chaos scenario reports, and the summary table. */

export interface ScenarioResult {
  scenario: string;
  tasks: number;
  /** Worker processes SIGKILLed, or database backends terminated. */
  kills: number;
  /** Replacement workers started, or database connections re-established by a later tick. */
  restarts: number;
  /** Committed tasks that did not reach their expected terminal state. */
  lost: number;
  /** Tasks that ran more than once (each must be explained by a kill). */
  duplicated: number;
  /** Longest time from a fault until the affected work ran again, in ms. */
  maxRecoveryMs: number;
  durationMs: number;
  /** Every broken guarantee, in words; empty when the scenario passed. */
  violations: string[];
  /** Extra figures worth printing (peak memory, per-tick claims, …). */
  notes?: string[];
}

export function summaryTable(results: ScenarioResult[]): string {
  const header = [
    'scenario',
    'tasks',
    'kills',
    'restarts',
    'lost',
    'duplicated',
    'max recovery',
    'time',
    'result',
  ];
  const rows = results.map((r) => [
    r.scenario,
    String(r.tasks),
    String(r.kills),
    String(r.restarts),
    String(r.lost),
    String(r.duplicated),
    `${(r.maxRecoveryMs / 1000).toFixed(2)} s`,
    `${(r.durationMs / 1000).toFixed(1)} s`,
    r.violations.length === 0 ? 'ok' : `${r.violations.length} violation(s)`,
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
  const line = (cells: string[]) => cells.map((cell, i) => cell.padEnd(widths[i]!)).join('  ');
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}
