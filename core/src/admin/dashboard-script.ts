/**
 * The dashboard's browser script, as a string served inline (with the page's CSP nonce), so the
 * dashboard needs no build step and no file system: it is plain JavaScript over the JSON API.
 * Everything from the server is written with `textContent`, never parsed as HTML.
 * @module
 */
export const DASHBOARD_SCRIPT = String.raw`
'use strict';
const STATUSES = ['initialized', 'running', 'succeeded', 'failed', 'cancelled'];
const REFRESH_MS = 2000;
const CHART_MINUTES = 60;
// The API sits beside the page, wherever the app is mounted (/admin or /admin/ alike).
const base = location.pathname.endsWith('/') ? location.pathname : location.pathname + '/';
const csrfToken = document.querySelector('meta[name="gta-csrf"]').content;
const $ = (id) => document.getElementById(id);
const state = { filters: {}, beforeId: null, newer: [], nextBeforeId: null, selectedId: null, generation: 0 };

async function api(path, init) {
  const response = await fetch(base + path, Object.assign({ credentials: 'same-origin' }, init));
  if (response.status === 401) {
    location.reload();
    throw new Error('the session ended; sign in again');
  }
  const body = response.status === 204 ? null : await response.json();
  if (!response.ok) throw new Error(body && body.error ? body.error.message : response.statusText);
  return body;
}

function post(path, body) {
  return api(path, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-gta-csrf': csrfToken },
    body: JSON.stringify(body || {}),
  });
}

function node(tag, props, children) {
  const element = document.createElement(tag);
  Object.assign(element, props || {});
  for (const child of children || []) element.append(child);
  return element;
}

function say(text, kind) {
  const message = $('message');
  message.textContent = text;
  message.className = kind || '';
}

// Local time as 2030-01-31 14:05:09 (24 h, everywhere on the page, its zone named in the header):
// sortable, and short enough for a table cell.
function time(iso) {
  if (!iso) return '—';
  const date = new Date(iso);
  return date.toLocaleDateString('sv-SE') + ' ' + date.toLocaleTimeString('sv-SE');
}

// The same, breaking between the date and the time only, for narrow cells.
function timeNode(iso) {
  const [date, clock] = time(iso).split(' ');
  if (clock === undefined) return node('span', { textContent: date });
  return node('span', {}, [
    node('span', { className: 'nowrap', textContent: date }),
    ' ',
    node('span', { className: 'nowrap', textContent: clock }),
  ]);
}

// The zone every time on the page is in: the browser's, with its offset from UTC now.
function zoneLabel() {
  const zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
  const offset = -new Date().getTimezoneOffset();
  const sign = offset < 0 ? '-' : '+';
  const hours = String(Math.floor(Math.abs(offset) / 60)).padStart(2, '0');
  const minutes = String(Math.abs(offset) % 60).padStart(2, '0');
  return 'times in ' + zone + ' (UTC' + sign + hours + ':' + minutes + ')';
}

function firstLine(text) {
  return text ? text.split('\n')[0] : '';
}

function duration(ms) {
  if (ms === null || ms === undefined) return '—';
  if (ms < 1000) return Math.round(ms) + ' ms';
  if (ms < 120000) return (ms / 1000).toFixed(1) + ' s';
  return Math.round(ms / 60000) + ' min';
}

function statusBadge(status) {
  return node('span', { className: 'status ' + status, textContent: status });
}

/** A button that opens a task in the detail panel, labelled by \`content\` (text or a node). */
function taskLink(id, content) {
  const link = node('button', { type: 'button', className: 'link', title: 'task ' + id }, [content]);
  link.addEventListener('click', () => select(id));
  return link;
}

function renderStats(stats) {
  const counts = $('counts');
  counts.replaceChildren(
    ...STATUSES.map((status) => {
      const button = node('button', { type: 'button', className: 'count ' + status }, [
        node('strong', { textContent: String(stats.byStatus[status]) }),
        ' ' + status,
      ]);
      button.dataset.status = status;
      button.addEventListener('click', () => {
        $('filter-status').value = status;
        applyFilters();
      });
      return button;
    }),
  );
  $('oldest').textContent = duration(stats.oldestInitializedAgeMs);
  $('failure-rate').textContent =
    stats.failureRate === null ? '—' : (stats.failureRate * 100).toFixed(1) + ' %';
  $('finished').textContent = stats.finished.succeeded + ' succeeded, ' + stats.finished.failed + ' failed';
  $('by-key').replaceChildren(
    ...Object.entries(stats.byKey).map(([key, byStatus]) =>
      node('tr', {}, [
        node('td', { textContent: key }),
        ...STATUSES.map((status) => node('td', { textContent: String(byStatus[status]) })),
      ]),
    ),
  );
  renderChart(stats.throughput);
}

function renderChart(points) {
  const svgNs = 'http://www.w3.org/2000/svg';
  const svg = $('chart');
  const byMinute = new Map(points.map((point) => [Date.parse(point.minute), point]));
  const thisMinute = Math.floor(Date.now() / 60000) * 60000;
  const minutes = Array.from({ length: CHART_MINUTES }, (_, i) => thisMinute - (CHART_MINUTES - 1 - i) * 60000);
  const peak = Math.max(1, ...points.map((point) => point.succeeded + point.failed));
  const width = 6;
  const height = 80;
  const bars = [];
  minutes.forEach((minute, index) => {
    const point = byMinute.get(minute) || { succeeded: 0, failed: 0 };
    const okHeight = (point.succeeded / peak) * height;
    const failHeight = (point.failed / peak) * height;
    const group = document.createElementNS(svgNs, 'g');
    const title = document.createElementNS(svgNs, 'title');
    title.textContent = time(new Date(minute).toISOString()) + ': ' + point.succeeded + ' succeeded, ' + point.failed + ' failed';
    group.append(title);
    for (const [y, h, kind] of [
      [height - okHeight, okHeight, 'bar-succeeded'],
      [height - okHeight - failHeight, failHeight, 'bar-failed'],
    ]) {
      if (h === 0) continue;
      const rect = document.createElementNS(svgNs, 'rect');
      rect.setAttribute('x', String(index * (width + 1)));
      rect.setAttribute('y', String(y));
      rect.setAttribute('width', String(width));
      rect.setAttribute('height', String(h));
      rect.setAttribute('class', kind);
      group.append(rect);
    }
    bars.push(group);
  });
  svg.setAttribute('viewBox', '0 0 ' + CHART_MINUTES * (width + 1) + ' ' + height);
  svg.replaceChildren(...bars);
}

function taskQuery() {
  const params = new URLSearchParams();
  for (const [name, value] of Object.entries(state.filters)) if (value) params.set(name, value);
  if (state.beforeId !== null) params.set('beforeId', String(state.beforeId));
  return params.toString();
}

function renderTasks(page) {
  state.nextBeforeId = page.nextBeforeId;
  $('older').disabled = page.nextBeforeId === null;
  $('newer').disabled = state.newer.length === 0;
  $('empty').hidden = page.tasks.length > 0;
  $('tasks').replaceChildren(
    ...page.tasks.map((task) => {
      const row = node('tr', { tabIndex: 0 }, [
        node('td', { textContent: String(task.id) }),
        node('td', { textContent: task.key }),
        node('td', {}, [statusBadge(task.status)]),
        node('td', { textContent: task.attempts + ' / ' + task.maxAttempts }),
        node('td', { textContent: time(task.updatedAt), title: 'created ' + time(task.createdAt) }),
        node('td', {
          className: 'error',
          textContent: firstLine(task.lastError),
          // A succeeded task's error is an earlier attempt's: shown muted, so the row does not look failed.
          title: (task.status === 'succeeded' && task.lastError ? 'an earlier attempt: ' : '') + (task.lastError || ''),
        }),
      ]);
      row.dataset.taskId = String(task.id);
      row.dataset.status = task.status;
      if (task.id === state.selectedId) row.classList.add('selected');
      const open = () => select(task.id);
      row.addEventListener('click', open);
      row.addEventListener('keydown', (event) => {
        if (event.key === 'Enter') open();
      });
      return row;
    }),
  );
}

function field(name, value, wide) {
  const text = value === null || value === undefined || value === '' ? '—' : String(value);
  const dd = node('dd', {}, [wide ? node('pre', { textContent: text }) : text]);
  dd.dataset.field = name;
  return [node('dt', { textContent: name }), dd];
}

/** A limit group's key as shown: '' is the task's one group. */
function groupName(key) {
  return key === '' ? 'the whole task' : key;
}

function renderDetail(task) {
  const panel = $('detail');
  panel.hidden = false;
  $('detail-title').textContent = 'Task ' + task.id + ' · ' + task.key;
  $('detail-fields').replaceChildren(
    ...field('status', task.status),
    ...field('attempts', task.attempts + ' of ' + task.maxAttempts),
    ...field('argument', JSON.stringify(task.arg, null, 2), true),
    ...field('context', task.context, true),
    ...field('last error', task.lastError, true),
    ...field('run at', time(task.runAt)),
    ...field('lease expires', time(task.leaseExpiresAt)),
    ...field('lease token', task.leaseToken),
    ...field('timeout', duration(task.timeoutMs)),
    ...field('created', time(task.createdAt)),
    ...field('updated', time(task.updatedAt)),
    ...field('started', time(task.startedAt)),
    ...field('finished', time(task.finishedAt)),
    ...field('parent', task.parentId),
    ...field('dedupe key', task.dedupeKey),
    ...field('dedupe key (released)', task.releasedDedupeKey),
    ...field('sequence key', task.sequenceKey),
    ...field('concurrency group', groupName(task.concurrencyKey)),
    ...field('rate group', groupName(task.rateKey)),
    ...field('schedule', task.scheduleId),
    ...field('scheduled for', time(task.scheduledFor)),
  );
  $('detail-fields').dataset.status = task.status;
  renderHistory(task.history);
  $('cancel').disabled = !(task.status === 'initialized' || (task.status === 'running' && !task.cancelReason));
  $('rerun').dataset.status = task.status;
}

// Every attempt that ended, oldest first: its number, outcome, times and error. A success is
// the task's own fields until a rerun moves it here.
function renderHistory(history) {
  $('history-empty').hidden = history.length > 0;
  $('detail-history').replaceChildren(
    ...history.map((entry) => {
      const took = entry.startedAt ? Date.parse(entry.endedAt) - Date.parse(entry.startedAt) : null;
      const item = node('li', {}, [
        'attempt ' + entry.attempt + ' ',
        statusBadge(entry.outcome),
        ' ' + time(entry.startedAt) + ' → ' + time(entry.endedAt) + ' (' + duration(took) + ')',
      ]);
      if (entry.error) item.append(node('pre', { textContent: entry.error }));
      item.dataset.attempt = String(entry.attempt);
      item.dataset.outcome = entry.outcome;
      return item;
    }),
  );
}

function renderAbnormal(abnormal) {
  $('abnormal-empty').hidden = abnormal.tasks.length > 0;
  $('abnormal').replaceChildren(
    ...abnormal.tasks.map(({ reason, task }) =>
      node('li', {}, [taskLink(task.id, 'task ' + task.id), ' ' + task.key + ': ' + reason]),
    ),
  );
}

/** The time as the schedule's own zone reads it, which is how its cron reads. */
function inZone(iso, timezone) {
  if (!iso) return '';
  try {
    return 'in ' + timezone + ': ' + new Date(iso).toLocaleString('sv-SE', { timeZone: timezone });
  } catch {
    return '';
  }
}

function scheduleState(schedule) {
  if (!schedule.active) return schedule.paused ? 'inactive, paused' : 'inactive';
  return schedule.paused ? 'paused' : 'active';
}

/** A piece of a table cell, named for tests and styles by its data-field. */
function part(name, text, className) {
  const element = node('div', { textContent: text, className: className || '' });
  element.dataset.field = name;
  return element;
}

function renderSchedules({ schedules }) {
  $('schedules-empty').hidden = schedules.length > 0;
  $('schedules').replaceChildren(
    ...schedules.map((schedule) => {
      const last = schedule.lastTask;
      const stateText = scheduleState(schedule);
      const stateColour = !schedule.active ? 'inactive' : schedule.paused ? 'paused' : 'active';
      const toggle = node('button', { type: 'button', textContent: schedule.paused ? 'Resume' : 'Pause' });
      toggle.dataset.action = schedule.paused ? 'resume' : 'pause';
      toggle.addEventListener('click', () => setPaused(schedule.id, !schedule.paused));
      const runNow = node('button', {
        type: 'button',
        className: 'primary',
        textContent: 'Run now',
        disabled: !schedule.active,
        title: schedule.active
          ? 'Enqueue its task now, outside its cron'
          : 'The running code no longer defines it',
      });
      runNow.dataset.action = 'trigger';
      runNow.addEventListener('click', () => trigger(schedule.id));
      const lastError = last ? last.lastError : null;
      const lastSlot = last
        ? [taskLink(last.id, timeNode(last.scheduledFor)), node('div', {}, [statusBadge(last.status)])]
        : ['—'];
      const row = node('tr', {}, [
        node('td', {}, [
          part('id', schedule.id, 'strong nowrap'),
          part('task', schedule.task, 'muted nowrap'),
        ]),
        node('td', {}, [
          node('code', {}, [part('cron', schedule.cron)]),
          part('timezone', schedule.timezone, 'muted'),
        ]),
        node('td', { title: inZone(schedule.nextSlot, schedule.timezone) }, [timeNode(schedule.nextSlot)]),
        node('td', { title: last ? inZone(last.scheduledFor, schedule.timezone) : '' }, lastSlot),
        node('td', { className: 'error', textContent: firstLine(lastError), title: lastError || '' }),
        node('td', {}, [node('span', { className: 'status ' + stateColour, textContent: stateText })]),
        node('td', { className: 'actions' }, [toggle, runNow]),
      ]);
      row.dataset.scheduleId = schedule.id;
      row.dataset.state = stateText;
      if (last) {
        row.dataset.lastTaskId = String(last.id);
        row.dataset.lastStatus = last.status;
      }
      return row;
    }),
  );
}

async function loadDetail() {
  if (state.selectedId === null) return;
  const { task } = await api('api/tasks/' + state.selectedId);
  renderDetail(task);
}

async function refresh() {
  // Refreshes overlap (the timer, a filter change): only the latest one may render, or a slow
  // unfiltered answer could overwrite the filtered table.
  const generation = ++state.generation;
  try {
    const [stats, page, abnormal, schedules] = await Promise.all([
      api('api/stats?minutes=' + CHART_MINUTES),
      api('api/tasks?' + taskQuery()),
      api('api/abnormal?limit=20'),
      api('api/schedules'),
    ]);
    if (generation !== state.generation) return;
    renderStats(stats);
    renderTasks(page);
    renderAbnormal(abnormal);
    renderSchedules(schedules);
    await loadDetail();
    $('updated').textContent = 'updated ' + time(new Date().toISOString());
  } catch (error) {
    say(error.message, 'error');
  }
}

async function select(id) {
  state.selectedId = id;
  for (const row of document.querySelectorAll('#tasks tr')) {
    row.classList.toggle('selected', row.dataset.taskId === String(id));
  }
  try {
    await loadDetail();
    // On a narrow screen the detail sits below the tables: bring it into view.
    $('detail').scrollIntoView({ block: 'nearest' });
  } catch (error) {
    // A task that does not exist (an id typed in) is not kept open for the refreshes to ask again.
    state.selectedId = null;
    say(error.message, 'error');
  }
}

function isoOrEmpty(local) {
  return local ? new Date(local).toISOString() : '';
}

function applyFilters() {
  state.filters = {
    status: $('filter-status').value,
    key: $('filter-key').value.trim(),
    createdAfter: isoOrEmpty($('filter-created-after').value),
    createdBefore: isoOrEmpty($('filter-created-before').value),
    updatedAfter: isoOrEmpty($('filter-updated-after').value),
    updatedBefore: isoOrEmpty($('filter-updated-before').value),
    limit: $('filter-limit').value,
  };
  state.beforeId = null;
  state.newer = [];
  refresh();
}

async function act(run, done) {
  try {
    say(done(await run()), 'ok');
  } catch (error) {
    say(error.message, 'error');
  }
  await refresh();
}

function schedulePath(id, action) {
  return 'api/schedules/' + encodeURIComponent(id) + '/' + action;
}

function setPaused(id, paused) {
  act(
    () => post(schedulePath(id, paused ? 'pause' : 'resume'), {}),
    ({ schedule }) =>
      paused
        ? 'schedule ' + schedule.id + ' paused: no instance fires it until it is resumed'
        : 'schedule ' + schedule.id + ' resumed: it fires from its next slot on, ' + time(schedule.nextSlot),
  );
}

function trigger(id) {
  if (!confirm('Run schedule ' + id + ' now, outside its cron?')) return;
  act(
    () => post(schedulePath(id, 'trigger'), {}),
    ({ task }) => 'schedule ' + id + ' triggered: task ' + task.id + ' is ' + task.status,
  );
}

$('find').addEventListener('submit', (event) => {
  event.preventDefault();
  select(Number($('find-id').value));
});
$('filters').addEventListener('submit', (event) => {
  event.preventDefault();
  applyFilters();
});
$('filters').addEventListener('reset', () => setTimeout(applyFilters));
$('older').addEventListener('click', () => {
  state.newer.push(state.beforeId);
  state.beforeId = state.nextBeforeId;
  refresh();
});
$('newer').addEventListener('click', () => {
  state.beforeId = state.newer.pop() ?? null;
  refresh();
});
$('close-detail').addEventListener('click', () => {
  state.selectedId = null;
  $('detail').hidden = true;
  refresh();
});
$('rerun').addEventListener('click', () => {
  const id = state.selectedId;
  const status = $('rerun').dataset.status;
  if (!confirm('Rerun task ' + id + ' (now ' + status + ')?')) return;
  act(
    () => post('api/tasks/' + id + '/rerun', { status }),
    ({ task }) => 'task ' + task.id + ' is ' + task.status + ' again: it runs as soon as a scanner claims it',
  );
});
$('cancel').addEventListener('click', () => {
  const id = state.selectedId;
  const reason = prompt(
    'Cancel task ' + id + '? It ends cancelled with this reason (a running one once its handler stopped):',
    'cancelled by an operator',
  );
  if (reason === null) return;
  act(
    () => post('api/tasks/' + id + '/cancel', reason.trim() ? { reason: reason.trim() } : {}),
    ({ task }) => 'task ' + task.id + ' cancelled',
  );
});
$('tick').addEventListener('click', () =>
  act(
    () => post('api/tick', {}),
    (report) =>
      'tick: claimed ' + report.claimed + ', succeeded ' + report.succeeded + ', failed ' + report.failed +
      ', retried ' + report.retried + ', rescued ' + report.rescued + ', scheduled ' + report.scheduled +
      ' in ' + report.durationMs + ' ms',
  ),
);
const logout = $('logout');
if (logout) {
  logout.addEventListener('click', async () => {
    await post('logout', {}).catch(() => undefined);
    location.reload();
  });
}
setInterval(() => {
  if ($('auto-refresh').checked) refresh();
}, REFRESH_MS);
$('zone').textContent = zoneLabel();
refresh();
`;
