// The local demo's entry: PGlite, a Hono app enqueueing in its transactions, a runner, a live page and the admin dashboard.
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { consoleLogger, createTaskManager } from '@gta/core';
import { type ServerType, serve } from '@hono/node-server';
import type { Hono } from 'hono';
import { createApp } from './app.js';
import { BackgroundWork } from './background.js';
import { createAppTables, openDatabase } from './database.js';
import { say } from './format.js';
import { rerunFailedShipments } from './operator.js';
import { awaitScheduledRun, checkOutcome, printSummary, settle } from './outcome.js';
import { runScenario } from './scenario.js';
import { createTasks, SALES_REPORT, SALES_REPORT_CRON } from './tasks.js';
import { printTransitions } from './watch.js';

const HOSTNAME = '127.0.0.1';
const SETTLE_TIMEOUT_MS = 30_000;
/** Shortest token the admin app of `@gta/core/admin` accepts. */
const MIN_ADMIN_TOKEN_LENGTH = 16;

const once = process.argv.includes('--once') || process.env.DEMO_ONCE === '1';
const port = Number(process.env.PORT ?? 3000);
const dataDir = process.env.GTA_DEMO_DATA_DIR ?? fileURLToPath(new URL('../.data', import.meta.url));
// A fresh random token per run unless one is given: the admin app refuses to start without one.
const adminToken = process.env.GTA_ADMIN_TOKEN || randomBytes(24).toString('base64url');
// The admin app would refuse a shorter one with a stack trace, after the database has opened.
if (adminToken.length < MIN_ADMIN_TOKEN_LENGTH) {
  console.error(
    `GTA_ADMIN_TOKEN is shorter than ${MIN_ADMIN_TOKEN_LENGTH} characters: set a longer one, or unset it for a random one per run`,
  );
  process.exit(1);
}

say(`opening PGlite in ${dataDir} (creating it the first time takes a few seconds)`);
const database = await openDatabase(dataDir);
const tasks = createTasks(database);
// Each attempt's start and end, printed as they happen, from the manager's hooks.
const transitions = printTransitions(say);
const manager = createTaskManager({
  db: database.db,
  tasks: Object.values(tasks),
  hooks: transitions.hooks,
  // Fired by the runner (`manager.start()`), which wakes for each slot: no cron is needed here.
  schedules: [{ id: SALES_REPORT, task: tasks.salesReport, cron: SALES_REPORT_CRON }],
  // Warnings and errors only, so the demo's own lines carry the story.
  logger: consoleLogger('warn'),
  scanInterval: 500,
  instantScanInterval: 50,
  checkCallback: (_logger, abnormal) => {
    if (abnormal.length === 0) return;
    const list = abnormal.map(({ task, reason }) => `task ${task.id} ${task.key}: ${reason}`).join(', ');
    say(`maintenance found ${abnormal.length} abnormal task(s): ${list}`);
  },
});
await manager.migrate();
await createAppTables(database);
say('database ready: task table migrated, orders table created');

const background = new BackgroundWork();
const server = await listen(createApp({ manager, database, tasks, background, adminToken }), port);
const baseUrl = `http://${HOSTNAME}:${port}`;
say(`listening on ${baseUrl}`);
say(
  !process.env.GTA_ADMIN_TOKEN
    ? `admin dashboard: ${baseUrl}/admin (token ${adminToken}; set GTA_ADMIN_TOKEN to choose it)`
    : `admin dashboard: ${baseUrl}/admin (token from GTA_ADMIN_TOKEN)`,
);
const runnerStartedAt = new Date();
manager.start();
say(
  'runner started: it scans every 500 ms (every 50 ms while due tasks remain) for retries and missed tasks',
);
say(`schedule ${SALES_REPORT} (${SALES_REPORT_CRON}): the runner fires a sales report every 10 s`);

let stopping: Promise<void> | undefined;
function shutdown(): Promise<void> {
  stopping ??= (async () => {
    say('stopping: running tasks finish first, then the server and the database close');
    await manager.stop();
    await background.settled();
    transitions.stop();
    await new Promise<void>((resolve, reject) =>
      server.close((error) => (error ? reject(error) : resolve())),
    );
    await database.client.close();
    say('stopped');
  })();
  return stopping;
}

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  // `once`, so a second Ctrl+C falls back to Node's default and ends a stop that hangs.
  process.once(signal, () => {
    shutdown().then(
      // An interrupted `--once` run did not get to check its outcome.
      () => process.exit(once ? 1 : 0),
      (error: unknown) => {
        console.error(error);
        process.exit(1);
      },
    );
  });
}

try {
  const result = await runScenario(baseUrl, manager, database);
  if (once) {
    await settle(manager, result, SETTLE_TIMEOUT_MS);
    const operator = await rerunFailedShipments(baseUrl, adminToken);
    const report = await awaitScheduledRun(manager, SALES_REPORT, runnerStartedAt, SETTLE_TIMEOUT_MS);
    const settled = await settle(manager, result, SETTLE_TIMEOUT_MS);
    // The summary is the last thing printed, after every transition.
    transitions.stop();
    printSummary(settled);
    const ok = await checkOutcome(settled, result, operator, report, manager, database);
    await shutdown();
    process.exitCode = ok ? 0 : 1;
  } else {
    say(`open ${baseUrl}/ to watch the tasks live (JSON at ${baseUrl}/api/tasks); Ctrl+C stops`);
    say(
      `the book-shipment tasks fail on their first run and wait for an operator: rerun them at ${baseUrl}/admin`,
    );
  }
} catch (error) {
  say(`the scenario failed: ${error instanceof Error ? error.message : String(error)}`);
  await shutdown();
  process.exitCode = 1;
}

function listen(app: Hono, port: number): Promise<ServerType> {
  return new Promise((resolve, reject) => {
    const server = serve({ fetch: app.fetch, port, hostname: HOSTNAME }, () => resolve(server));
    server.once('error', reject);
  });
}
