/**
 * The admin dashboard in a real browser (Debian's Chromium, driven by playwright-core) against
 * the local demo: sign in with the admin token, find a failed task, rerun it, and watch it
 * succeed. The demo's `book-shipment` fails on its first run and succeeds once rerun. A screenshot
 * of the end state is saved to test/browser/artifacts/.
 */
import { randomBytes } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Browser, launchChromium, watchErrors } from './chromium.js';
import { type DemoServer, startDemo } from './demo-server.js';

const ARTIFACTS = fileURLToPath(new URL('./artifacts/', import.meta.url));
/** Long enough for the demo's runner and the page's 2 s refresh; a bound, not a measurement. */
const STEP_TIMEOUT_MS = 30_000;
const POLL = { timeout: STEP_TIMEOUT_MS, interval: 100 };

const adminToken = randomBytes(24).toString('base64url');
let demo: DemoServer;
let browser: Browser;

beforeAll(async () => {
  demo = await startDemo({ adminToken, readyLine: 'runner started' });
  browser = await launchChromium();
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await demo?.stop();
});

describe('the admin dashboard in Chromium, on the local demo', () => {
  it('signs in, finds a failed task, reruns it and shows it succeed', async () => {
    const page = await browser.page();
    page.setDefaultTimeout(STEP_TIMEOUT_MS);

    // Without a session the dashboard is the login form (answered 401).
    const first = await page.goto(`${demo.baseUrl}/admin`);
    expect(first?.status()).toBe(401);
    await page.fill('#token', 'not-the-admin-token');
    await page.click('button[type="submit"]');
    await expect.poll(() => page.textContent('#login-error'), POLL).toContain('not right');

    await page.fill('#token', adminToken);
    // Signed in, the page reloads itself into the dashboard.
    await page.click('button[type="submit"]');
    await page.locator('#counts .count').first().waitFor();
    const errors = watchErrors(page);

    // The demo's scenario placed two orders at startup; their shipment bookings fail.
    await page.selectOption('#filter-status', 'failed');
    await page.fill('#filter-key', 'book-shipment');
    await page.click('#filters button[type="submit"]');
    // The filtered table: failed book-shipment tasks only, once at least one has failed.
    const rows = page.locator('#tasks tr');
    const shown = () =>
      rows.evaluateAll((trs) =>
        trs.map((tr) => `${(tr as HTMLElement).dataset.status} ${tr.children[1]?.textContent}`),
      );
    await expect
      .poll(async () => {
        const seen = await shown();
        return seen.length > 0 && seen.every((row) => row === 'failed book-shipment');
      }, POLL)
      .toBe(true);
    const failedRow = rows.first();
    const taskId = await failedRow.getAttribute('data-task-id');
    expect(taskId).toMatch(/^\d+$/);

    await failedRow.click();
    const detail = page.locator('#detail-fields');
    await page.locator(`#detail-fields[data-status="failed"]`).waitFor();
    expect(await page.textContent('#detail-title')).toBe(`Task ${taskId} · book-shipment`);
    expect(await detail.locator('[data-field="last error"]').textContent()).toContain(
      'warehouse booking API offline',
    );
    // Every attempt that ended is listed, the last one failed with the error.
    const attempts = page.locator('#detail-history li');
    const endedBeforeRerun = await attempts.count();
    expect(endedBeforeRerun).toBeGreaterThan(0);
    expect(await attempts.last().getAttribute('data-outcome')).toBe('failed');
    expect(await attempts.last().locator('pre').textContent()).toContain('warehouse booking API offline');
    expect(await page.isHidden('#history-empty')).toBe(true);

    page.once('dialog', (dialog) => dialog.accept());
    await page.click('#rerun');
    await expect
      .poll(() => page.textContent('#message'), POLL)
      .toContain(`task ${taskId} is initialized again`);
    // The demo's runner picks the task up; the page refreshes itself every 2 s.
    await page.locator('#detail-fields[data-status="succeeded"]').waitFor();
    expect(await detail.locator('[data-field="status"]').textContent()).toBe('succeeded');
    expect(await detail.locator('[data-field="last error"]').textContent()).toContain(
      'warehouse booking API offline',
    );
    // The rerun kept the attempts before it; the success is the task's own fields.
    expect(await attempts.count()).toBe(endedBeforeRerun);
    expect(await attempts.last().getAttribute('data-outcome')).toBe('failed');

    // The server agrees with the page.
    const response = await fetch(`${demo.baseUrl}/admin/api/tasks/${taskId}`, {
      headers: { authorization: `Bearer ${adminToken}` },
    });
    const { task } = (await response.json()) as { task: { status: string; attempts: number } };
    expect(task).toMatchObject({ status: 'succeeded', attempts: 1 });

    // The whole table again, for the screenshot: the rerun task succeeded, its sibling still failed.
    await page.click('#filters button[type="reset"]');
    await page.locator(`#tasks tr[data-task-id="${taskId}"][data-status="succeeded"]`).waitFor();
    await page.locator('#chart rect').first().waitFor();
    // A succeeded task's error, an earlier attempt's, is muted; a failed task's is red.
    const errorColor = (selector: string) =>
      page
        .locator(`${selector} td.error`)
        .first()
        .evaluate((cell) => getComputedStyle(cell).color);
    expect(await errorColor(`#tasks tr[data-task-id="${taskId}"]`)).toBe('rgb(110, 119, 129)');
    expect(await errorColor('#tasks tr[data-status="failed"]')).toBe('rgb(207, 34, 46)');
    // One time format, 24 h, and the zone it is in named once.
    expect(await page.textContent('#updated')).toMatch(/^updated \d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/);
    expect(await page.textContent('#zone')).toMatch(/^times in \S+ \(UTC[+-]\d\d:\d\d\)$/);
    await mkdir(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: join(ARTIFACTS, 'dashboard.png'), fullPage: true });
    expect(errors).toEqual([]);
  }, 120_000);

  it('at phone width (420 px) stacks the detail below the tasks, and opens a task by its id', async () => {
    const page = await browser.page();
    page.setDefaultTimeout(STEP_TIMEOUT_MS);
    await page.setViewportSize({ width: 420, height: 860 });
    // The browser's profile keeps the session the first test signed in with; sign in without it.
    const opened = await page.goto(`${demo.baseUrl}/admin`);
    if (opened?.status() === 401) {
      await page.fill('#token', adminToken);
      await page.click('button[type="submit"]');
    }
    const firstRow = page.locator('#tasks tr').first();
    await firstRow.waitFor();
    const errors = watchErrors(page);
    await firstRow.click();
    await page.locator('#detail:not([hidden]) #detail-fields[data-status]').waitFor();
    const box = async (selector: string) => (await page.locator(selector).boundingBox())!;
    const table = await box('#tasks');
    const detail = await box('#detail');
    // Nothing wider than the screen, and the detail wholly below the task table.
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(420);
    expect(detail.x).toBeGreaterThanOrEqual(0);
    expect(detail.x + detail.width).toBeLessThanOrEqual(420);
    expect(detail.y).toBeGreaterThanOrEqual(table.y + table.height);
    // Opening a task brought its detail into view (boxes are in the viewport's coordinates).
    expect(detail.y).toBeLessThan(860);
    expect(detail.y + detail.height).toBeGreaterThan(0);
    await mkdir(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: join(ARTIFACTS, 'dashboard-phone.png'), fullPage: true });
    expect(errors).toEqual([]);

    // A task opened by its id; an id no task has says so, and is not kept open.
    const id = await firstRow.getAttribute('data-task-id');
    await page.click('#close-detail');
    await page.fill('#find-id', id!);
    await page.click('#find button[type="submit"]');
    await page.locator('#detail:not([hidden])').waitFor();
    expect(await page.textContent('#detail-title')).toMatch(new RegExp(`^Task ${id} · `));
    await page.fill('#find-id', '999999999');
    await page.click('#find button[type="submit"]');
    await expect.poll(() => page.textContent('#message'), POLL).toBe('there is no task 999999999');
    // After the next refresh, still the one failed request: the unknown id is not asked again.
    const updated = await page.textContent('#updated');
    await expect.poll(() => page.textContent('#updated'), POLL).not.toBe(updated);
    expect(errors.filter((error) => !error.includes('404'))).toEqual([]);
    expect(errors.filter((error) => error.startsWith('http 404'))).toEqual([
      'http 404: /admin/api/tasks/999999999',
    ]);
  }, 120_000);
});
