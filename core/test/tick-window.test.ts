import { describe, expect, it } from 'vitest';
import { tickWindow } from '../src/index.js';

describe('tickWindow', () => {
  it('stops claiming a task timeout before the abort, which comes a safety margin before the end', () => {
    const window = tickWindow({
      timeLeftMs: 60_000,
      safetyMarginMs: 2000,
      taskTimeoutMs: 10_000,
      maxBudgetMs: 100_000,
    });
    expect(window.budgetMs).toBe(48_000);
    expect(window.signal.aborted).toBe(false);
  });

  it('claims for half the usable time when the invocation is shorter than two task timeouts, and never past maxBudgetMs', () => {
    expect(
      tickWindow({ timeLeftMs: 12_000, safetyMarginMs: 2000, taskTimeoutMs: 60_000, maxBudgetMs: 100_000 })
        .budgetMs,
    ).toBe(5000);
    expect(
      tickWindow({ timeLeftMs: 900_000, safetyMarginMs: 2000, taskTimeoutMs: 1000, maxBudgetMs: 30_000 })
        .budgetMs,
    ).toBe(30_000);
  });

  it('aborts its signal at the end of the usable time', async () => {
    const { signal } = tickWindow({
      timeLeftMs: 40,
      safetyMarginMs: 20,
      taskTimeoutMs: 1000,
      maxBudgetMs: 1000,
    });
    await new Promise((resolve) => signal.addEventListener('abort', resolve));
    expect(signal.aborted).toBe(true);
  });

  it('refuses an invocation with no time left beyond its safety margin', () => {
    expect(() =>
      tickWindow({ timeLeftMs: 1000, safetyMarginMs: 2000, taskTimeoutMs: 1000, maxBudgetMs: 1000 }),
    ).toThrow(expect.objectContaining({ code: 'GTA_INVALID_OPTION' }));
  });
});
