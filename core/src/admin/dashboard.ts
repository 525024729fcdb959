/**
 * The dashboard and login pages, as strings: served by the admin app itself, with no build step
 * and no file system, so they work in a Worker as in Node. Each response gets a fresh CSP nonce,
 * and only the script and style carrying it run.
 * @module
 */
import { TASK_STATES } from '../states.js';
import { DASHBOARD_SCRIPT } from './dashboard-script.js';

/** The Content-Security-Policy of a page whose inline script and style carry `nonce`. */
export function pagePolicy(nonce: string): string {
  return [
    "default-src 'none'",
    `script-src 'nonce-${nonce}'`,
    `style-src 'nonce-${nonce}'`,
    "connect-src 'self'",
    "img-src 'self' data:",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join('; ');
}

const STYLE = `
  :root { color-scheme: light; --ok: #1a7f37; --fail: #cf222e; --muted: #6e7781; }
  * { box-sizing: border-box; }
  body { font: 14px/1.45 system-ui, sans-serif; margin: 0; color: #1f2328; background: #f6f8fa; }
  header { display: flex; gap: 1rem; align-items: center; padding: 0.75rem 1.5rem; background: #24292f; color: #fff; }
  header h1 { font-size: 1.1rem; margin: 0 auto 0 0; }
  header label { font-size: 0.85rem; }
  main { display: grid; grid-template-columns: minmax(0, 1fr) minmax(0, 30rem); gap: 1rem; padding: 1rem 1.5rem; }
  section, aside { background: #fff; border: 1px solid #d0d7de; border-radius: 6px; padding: 0.75rem 1rem; overflow-x: auto; }
  h2 { font-size: 1rem; margin: 0 0 0.5rem; }
  .counts { display: flex; gap: 0.5rem; flex-wrap: wrap; }
  .count { border: 1px solid #d0d7de; border-radius: 6px; padding: 0.4rem 0.8rem; background: #fff; cursor: pointer; }
  .count strong { font-size: 1.2rem; }
  .facts { display: flex; gap: 1.5rem; flex-wrap: wrap; margin: 0.5rem 0; color: var(--muted); }
  .facts b { color: #1f2328; font-weight: 600; }
  svg { width: 100%; height: 80px; background: #f6f8fa; }
  .bar-succeeded { fill: var(--ok); } .bar-failed { fill: var(--fail); }
  .legend-ok { color: var(--ok); } .legend-fail { color: var(--fail); }
  table { border-collapse: collapse; width: 100%; }
  th, td { text-align: left; padding: 0.3rem 0.5rem; border-bottom: 1px solid #eaeef2; vertical-align: top; }
  #tasks tr { cursor: pointer; } #tasks td { white-space: nowrap; } #tasks tr:hover, #tasks tr.selected { background: #ddf4ff; }
  /* The error cell takes what the other columns leave, and cuts its text there. */
  td.error { color: var(--fail); width: 100%; max-width: 0; overflow: hidden; text-overflow: ellipsis; }
  tr[data-status="succeeded"] td.error { color: var(--muted); }
  .status { padding: 0 0.45rem; border-radius: 1rem; font-size: 0.85rem; }
  .initialized { background: #ddf4ff; } .running { background: #fff8c5; }
  .succeeded { background: #dafbe1; } .failed { background: #ffebe9; } .cancelled { background: #eaeef2; }
  .retried, .expired { background: #fff8c5; } .released { background: #eaeef2; }
  .paused { background: #fff8c5; } .inactive { background: #eaeef2; } .active { background: #dafbe1; }
  #schedules td.error, #schedules td.actions, #schedules code, #schedules .status { white-space: nowrap; }
  #schedules td.actions button + button { margin-left: 0.3rem; } #schedules button.link { text-align: left; }
  .strong { font-weight: 600; } .nowrap { white-space: nowrap; }
  code { font-size: 0.85rem; }
  form.filters { display: flex; gap: 0.5rem; flex-wrap: wrap; align-items: end; margin-bottom: 0.5rem; }
  form.filters label { display: flex; flex-direction: column; font-size: 0.8rem; color: var(--muted); }
  input, select, button { font: inherit; }
  button { padding: 0.25rem 0.7rem; border: 1px solid #d0d7de; border-radius: 6px; background: #f6f8fa; cursor: pointer; }
  button:disabled { opacity: 0.5; cursor: default; }
  button.danger { color: var(--fail); } button.primary { background: #1f883d; color: #fff; border-color: #1f883d; }
  button.link { border: 0; background: none; color: #0969da; padding: 0; }
  dl { display: grid; grid-template-columns: 7rem minmax(0, 1fr); gap: 0.2rem 0.5rem; margin: 0.5rem 0; }
  dt { color: var(--muted); } dd { margin: 0; overflow-wrap: anywhere; }
  #detail-history { margin: 0.3rem 0; padding-left: 1.4rem; }
  #detail-history li { margin-bottom: 0.4rem; }
  pre { margin: 0; white-space: pre-wrap; max-height: 14rem; overflow: auto; background: #f6f8fa; padding: 0.3rem; }
  #message { min-height: 1.4em; margin: 0 1.5rem; padding-top: 0.5rem; }
  #message.ok { color: var(--ok); } #message.error { color: var(--fail); }
  .muted { color: var(--muted); }
  .pager { display: flex; gap: 0.5rem; margin-top: 0.5rem; }
  .stack { display: grid; gap: 1rem; align-content: start; }
  .login { max-width: 24rem; margin: 6rem auto; }
  .login input { width: 100%; margin: 0.5rem 0; padding: 0.4rem; }
  /* A narrow screen (a phone) stacks the panels in one column, the detail below the tables. */
  @media (max-width: 60rem) {
    main { grid-template-columns: minmax(0, 1fr); padding: 0.75rem; }
    header { flex-wrap: wrap; padding: 0.75rem; gap: 0.5rem 1rem; }
    #message { margin: 0 0.75rem; }
  }
`;

function page(title: string, nonce: string, head: string, body: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<link rel="icon" href="data:,">
<title>${title}</title>
${head}
<style nonce="${nonce}">${STYLE}</style>
</head>
${body}
</html>`;
}

const STATUS_OPTIONS = TASK_STATES.map((status) => `<option value="${status}">${status}</option>`).join('');

/** The dashboard for a signed-in operator; `csrfToken` is empty unless they came in with a session. */
export function dashboardPage({
  nonce,
  csrfToken,
  canLogOut,
}: {
  nonce: string;
  csrfToken: string;
  canLogOut: boolean;
}): string {
  const body = `<body>
<header>
  <h1>gta · tasks</h1>
  <span id="zone" class="muted"></span>
  <span id="updated" class="muted"></span>
  <label><input type="checkbox" id="auto-refresh" checked> refresh every 2 s</label>
  <button type="button" id="tick" title="Run one scanner step now">Tick now</button>
  ${canLogOut ? '<button type="button" id="logout">Log out</button>' : ''}
</header>
<p id="message" role="status"></p>
<main>
  <div class="stack">
    <section aria-labelledby="stats-title">
      <h2 id="stats-title">Tasks by status</h2>
      <div class="counts" id="counts"></div>
      <div class="facts">
        <span>oldest due task waiting: <b id="oldest">—</b></span>
        <span>failure rate, last 60 min: <b id="failure-rate">—</b></span>
        <span>finished, last 60 min: <b id="finished">—</b></span>
      </div>
      <svg id="chart" role="img" aria-label="Tasks finished per minute over the last hour" preserveAspectRatio="none"></svg>
      <div class="muted">per minute, last hour: <span class="legend-ok">■ succeeded</span> <span class="legend-fail">■ failed</span></div>
    </section>
    <section aria-labelledby="list-title">
      <h2 id="list-title">Tasks</h2>
      <form class="filters" id="find">
        <label>open task by id <input id="find-id" type="number" min="1" step="1" required size="10"></label>
        <button type="submit">Open</button>
      </form>
      <form class="filters" id="filters">
        <label>status <select id="filter-status"><option value="">any</option>${STATUS_OPTIONS}</select></label>
        <label>key <input id="filter-key" maxlength="64" size="14"></label>
        <label>created after <input type="datetime-local" id="filter-created-after"></label>
        <label>created before <input type="datetime-local" id="filter-created-before"></label>
        <label>updated after <input type="datetime-local" id="filter-updated-after"></label>
        <label>updated before <input type="datetime-local" id="filter-updated-before"></label>
        <label>per page <select id="filter-limit"><option>25</option><option selected>50</option><option>100</option><option>200</option></select></label>
        <button type="submit" class="primary">Filter</button>
        <button type="reset">Reset</button>
      </form>
      <table>
        <thead><tr><th>id</th><th>key</th><th>status</th><th>attempts</th><th>updated</th><th>last error</th></tr></thead>
        <tbody id="tasks"></tbody>
      </table>
      <p id="empty" class="muted" hidden>No tasks match.</p>
      <div class="pager">
        <button type="button" id="newer" disabled>← Newer</button>
        <button type="button" id="older" disabled>Older →</button>
      </div>
    </section>
    <section aria-labelledby="schedules-title">
      <h2 id="schedules-title">Schedules</h2>
      <table>
        <thead><tr><th>schedule · task</th><th>cron · time zone</th><th>next slot</th><th>last slot · outcome</th><th>last error</th><th>state</th><th></th></tr></thead>
        <tbody id="schedules"></tbody>
      </table>
      <p id="schedules-empty" class="muted" hidden>No schedules.</p>
    </section>
  </div>
  <div class="stack">
    <aside id="detail" aria-labelledby="detail-title" hidden>
      <h2 id="detail-title"></h2>
      <div>
        <button type="button" id="rerun" class="primary">Rerun</button>
        <button type="button" id="cancel" class="danger">Cancel</button>
        <button type="button" id="close-detail">Close</button>
      </div>
      <dl id="detail-fields"></dl>
      <h3 id="history-title">Ended attempts</h3>
      <ol id="detail-history" aria-labelledby="history-title"></ol>
      <p id="history-empty" class="muted">None yet.</p>
    </aside>
    <section aria-labelledby="abnormal-title">
      <h2 id="abnormal-title">Abnormal tasks</h2>
      <ul id="abnormal"></ul>
      <p id="abnormal-empty" class="muted">None.</p>
    </section>
    <section aria-labelledby="keys-title">
      <h2 id="keys-title">By task key</h2>
      <table>
        <thead><tr><th>key</th><th>initialized</th><th>running</th><th>succeeded</th><th>failed</th><th>cancelled</th></tr></thead>
        <tbody id="by-key"></tbody>
      </table>
    </section>
  </div>
</main>
<script nonce="${nonce}">${DASHBOARD_SCRIPT}</script>
</body>`;
  return page('gta · tasks', nonce, `<meta name="gta-csrf" content="${csrfToken}">`, body);
}

const LOGIN_SCRIPT = `
'use strict';
const base = location.pathname.endsWith('/') ? location.pathname : location.pathname + '/';
document.getElementById('login').addEventListener('submit', async (event) => {
  event.preventDefault();
  const error = document.getElementById('login-error');
  error.textContent = '';
  const response = await fetch(base + 'login', {
    method: 'POST',
    credentials: 'same-origin',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ token: document.getElementById('token').value }),
  });
  if (response.ok) location.reload();
  else error.textContent = response.status === 401 ? 'That token is not right.' : 'Sign-in failed (' + response.status + ').';
});
`;

/** What a request without credentials gets instead of the dashboard (with status 401). */
export function loginPage({ nonce, acceptsToken }: { nonce: string; acceptsToken: boolean }): string {
  const form = acceptsToken
    ? `<form id="login">
    <label for="token">Admin token</label>
    <input type="password" id="token" name="token" autocomplete="current-password" required autofocus>
    <button type="submit" class="primary">Sign in</button>
    <p id="login-error" class="muted" role="alert"></p>
  </form>
  <script nonce="${nonce}">${LOGIN_SCRIPT}</script>`
    : '<p>Sign in through your application, then reload this page.</p>';
  return page(
    'gta · sign in',
    nonce,
    '',
    `<body><section class="login"><h2>gta · sign in</h2>${form}</section></body>`,
  );
}
