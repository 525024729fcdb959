/**
 * The demo's page: server-rendered HTML that re-fetches itself every second, so it needs no build
 * step and shows exactly what the server sees.
 * @module
 */
import { TASK_STATES, type TaskRow, type TaskStats } from '@gta/core';
import { html } from 'hono/html';
import type { Order } from './database.js';
import { errorSummary, msBetween } from './format.js';

export interface PageData {
  stats: TaskStats;
  tasks: TaskRow[];
  orders: Order[];
  /** The server's clock, to say how long ago or how soon. */
  now: number;
}

export function renderPage(data: PageData) {
  return html`<!doctype html>
<html lang="en">
  <head>
    <meta charset="utf-8" />
    <title>gta · local demo</title>
    <style>
      body { font: 14px/1.4 system-ui, sans-serif; margin: 2rem; color: #222; }
      table { border-collapse: collapse; margin-bottom: 2rem; }
      th, td { text-align: left; padding: 0.25rem 0.75rem; border-bottom: 1px solid #ddd; vertical-align: top; }
      .status { padding: 0 0.4rem; border-radius: 0.3rem; }
      .initialized { background: #eef; } .running { background: #ffd; }
      .succeeded { background: #dfd; } .failed { background: #fdd; }
      .muted { color: #888; }
      button { margin-right: 0.5rem; }
    </style>
  </head>
  <body>
    <h1>gta · local demo</h1>
    <p><a href="/admin">Admin dashboard</a>: inspect tasks, rerun the failed ones (sign in with the admin token printed at startup).</p>
    <p>
      <button data-path="/orders" data-body='{"email":"ada@example.com","item":"tea","amountCents":450}'>Place an order</button>
      <button data-path="/orders" data-body='{"email":"grace@example.com","item":"coffee","amountCents":380,"loyalty":true}'>Place a loyalty order</button>
      <button data-path="/orders/rollback" data-body='{"email":"alan@example.com","item":"cake","amountCents":520}'>Place an order that rolls back</button>
    </p>
    <p id="result" class="muted">The page refreshes every second.</p>
    <main id="live">${renderLive(data)}</main>
    <script>
      for (const button of document.querySelectorAll('button[data-path]')) {
        button.addEventListener('click', async () => {
          const response = await fetch(button.dataset.path, { method: 'POST', body: button.dataset.body });
          document.getElementById('result').textContent = response.status + ' ' + (await response.text());
        });
      }
      setInterval(async () => {
        const page = new DOMParser().parseFromString(await (await fetch('/')).text(), 'text/html');
        document.getElementById('live').replaceWith(page.getElementById('live'));
      }, 1000);
    </script>
  </body>
</html>`;
}

function renderLive({ stats, tasks, orders, now }: PageData) {
  const counts = TASK_STATES.map((status) => `${status} ${stats.byStatus[status]}`).join(' · ');
  return html`
    <h2>Tasks</h2>
    <p>${counts}</p>
    <table>
      <tr><th>id</th><th>key</th><th>status</th><th>attempts</th><th>last error</th><th>run time</th></tr>
      ${tasks.map(
        (task) => html`<tr>
          <td>${task.id}</td>
          <td>${task.key}${task.parentId === null ? '' : html` <span class="muted">↳ from ${task.parentId}</span>`}</td>
          <td><span class="status ${task.status}">${task.status}</span></td>
          <td>${task.attempts} / ${task.maxAttempts}</td>
          <td title="${task.lastError ?? ''}">${errorSummary(task.lastError)}</td>
          <td>${runTime(task, now)}</td>
        </tr>`,
      )}
    </table>
    <h2>Orders</h2>
    <table>
      <tr><th>id</th><th>email</th><th>item</th><th>amount</th><th>status</th></tr>
      ${orders.map(
        (order) => html`<tr>
          <td>${order.id}</td><td>${order.email}</td><td>${order.item}</td>
          <td>${(order.amountCents / 100).toFixed(2)}</td><td>${order.status}</td>
        </tr>`,
      )}
    </table>`;
}

function runTime(task: TaskRow, now: number): string {
  if (task.status === 'running')
    return `running for ${msBetween(task.startedAt, new Date(now).toISOString())} ms`;
  if (task.status === 'initialized') {
    const wait = Date.parse(task.runAt) - now;
    return wait > 0 ? `due in ${wait} ms` : 'due now';
  }
  const took = msBetween(task.startedAt, task.finishedAt);
  return took === null ? '' : `last attempt took ${took} ms`;
}
