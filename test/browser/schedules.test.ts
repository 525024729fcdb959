/**
 * The dashboard's Schedules section in a real browser (Debian's Chromium, driven by
 * playwright-core) against a manager whose runner fires a schedule every second: sign in, see the
 * schedules listed with their slots, pause the every-second one and see no instance fire it, run
 * it now, open the task it fired, resume it, and run the failing one to see its error. A
 * screenshot of the end state is saved to test/browser/artifacts/.
 */
import { randomBytes } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Browser, launchChromium, watchErrors } from './chromium.js';
import { REPORT_ERROR, type ScheduleServer, startScheduleServer } from './schedule-server.js';

const ARTIFACTS = fileURLToPath(new URL('./artifacts/', import.meta.url));
/** Long enough for the runner and the page's 2 s refresh; a bound, not a measurement. */
const STEP_TIMEOUT_MS = 30_000;
const POLL = { timeout: STEP_TIMEOUT_MS, interval: 100 };
/** How long a paused every-second schedule is watched for a firing it must not make. */
const PAUSED_WATCH_MS = 2_500;

const adminToken = randomBytes(24).toString('base64url');
let server: ScheduleServer;
let browser: Browser;

beforeAll(async () => {
  server = await startScheduleServer({ adminToken });
  browser = await launchChromium();
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await server?.stop();
});

/** The tasks a schedule fired (at its slots or triggered), newest first. */
async function firedBy(scheduleId: string) {
  return (await server.manager.listTasks({ limit: 500 })).filter((task) => task.scheduleId === scheduleId);
}

describe("the dashboard's schedules in Chromium", () => {
  it('lists the schedules, pauses one, runs it now and shows the task it fired', async () => {
    const page = await browser.page();
    page.setDefaultTimeout(STEP_TIMEOUT_MS);
    await page.goto(server.baseUrl);
    await page.fill('#token', adminToken);
    await page.click('button[type="submit"]');
    const heartbeat = page.locator('#schedules tr[data-schedule-id="heartbeat"]');
    const report = page.locator('#schedules tr[data-schedule-id="nightly-report"]');
    await heartbeat.waitFor();
    const errors = watchErrors(page);

    const fields = (row: typeof heartbeat) =>
      row
        .locator('[data-field]')
        .evaluateAll((parts) =>
          Object.fromEntries(parts.map((part) => [(part as HTMLElement).dataset.field, part.textContent])),
        );
    expect(await fields(report)).toEqual({
      id: 'nightly-report',
      task: 'build-report',
      cron: '0 3 * * *',
      timezone: 'Europe/Paris',
    });
    expect(await fields(heartbeat)).toMatchObject({ cron: '* * * * * *', timezone: 'UTC' });
    const reportCells = await report.locator('td').allTextContents();
    expect(reportCells[2]).toMatch(/^\d{4}-\d\d-\d\d \d\d:00:00$/); // the next slot
    expect(reportCells[3]).toBe('—'); // never fired
    expect(await report.getAttribute('data-state')).toBe('active');

    // The runner fires the heartbeat every second; the page shows the last slot's outcome.
    await page.locator('#schedules tr[data-schedule-id="heartbeat"][data-last-status="succeeded"]').waitFor();

    await heartbeat.locator('button[data-action="pause"]').click();
    await expect.poll(() => page.textContent('#message'), POLL).toContain('schedule heartbeat paused');
    await page.locator('#schedules tr[data-schedule-id="heartbeat"][data-state="paused"]').waitFor();
    expect(await heartbeat.locator('button[data-action="resume"]').textContent()).toBe('Resume');
    // Paused, it fires nothing, although a slot passes every second.
    const firedBeforePause = (await firedBy('heartbeat')).length;
    await new Promise((resolve) => setTimeout(resolve, PAUSED_WATCH_MS));
    expect((await firedBy('heartbeat')).length).toBe(firedBeforePause);

    page.once('dialog', (dialog) => dialog.accept());
    await heartbeat.locator('button[data-action="trigger"]').click();
    await expect
      .poll(() => page.textContent('#message'), POLL)
      .toMatch(/^schedule heartbeat triggered: task \d+ is /);
    const triggered = await firedBy('heartbeat');
    expect(triggered).toHaveLength(firedBeforePause + 1);
    const [ran] = triggered;
    expect(await page.textContent('#message')).toContain(`task ${ran!.id} is `);
    await expect.poll(async () => (await server.manager.getTask(ran!.id))?.status, POLL).toBe('succeeded');
    // Still paused; its last slot is the task just run.
    await page
      .locator(`#schedules tr[data-schedule-id="heartbeat"][data-last-task-id="${ran!.id}"]`)
      .waitFor();
    expect(await heartbeat.getAttribute('data-state')).toBe('paused');

    // The last slot opens the task, which names its schedule and its slot.
    await heartbeat.locator('td button.link').click();
    await page.locator('#detail-fields[data-status="succeeded"]').waitFor();
    expect(await page.textContent('#detail-title')).toBe(`Task ${ran!.id} · heartbeat`);
    const detail = page.locator('#detail-fields');
    expect(await detail.locator('[data-field="schedule"]').textContent()).toBe('heartbeat');
    expect(await detail.locator('[data-field="scheduled for"]').textContent()).toMatch(
      /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/,
    );

    await heartbeat.locator('button[data-action="resume"]').click();
    await expect.poll(() => page.textContent('#message'), POLL).toContain('schedule heartbeat resumed');
    await expect
      .poll(async () => (await firedBy('heartbeat')).length, POLL)
      .toBeGreaterThan(triggered.length);
    await page.locator('#schedules tr[data-schedule-id="heartbeat"][data-state="active"]').waitFor();

    // The failing schedule, run now: its outcome and error show in its row.
    page.once('dialog', (dialog) => dialog.accept());
    await report.locator('button[data-action="trigger"]').click();
    await page
      .locator('#schedules tr[data-schedule-id="nightly-report"][data-last-status="failed"]')
      .waitFor();
    expect(await report.locator('td.error').textContent()).toContain(REPORT_ERROR);

    // The server agrees with the page.
    const response = await fetch(`${server.baseUrl}/api/schedules`, {
      headers: { authorization: `Bearer ${adminToken}` },
    });
    const { schedules } = (await response.json()) as {
      schedules: { id: string; paused: boolean; lastTask: { status: string } | null }[];
    };
    expect(schedules.map(({ id, paused, lastTask }) => [id, paused, lastTask?.status])).toEqual([
      ['heartbeat', false, 'succeeded'],
      ['nightly-report', false, 'failed'],
    ]);

    await mkdir(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: join(ARTIFACTS, 'schedules.png'), fullPage: true });
    expect(errors).toEqual([]);
  }, 120_000);
});
