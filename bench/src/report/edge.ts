/** The edge measurement (neon-http through the delaying proxy) as a Markdown section, and its targets. @module */
import {
  type EdgeResult,
  type Traffic,
  WORKERS_CONNECTIONS,
  WORKERS_CRON_WALL_MS,
  WORKERS_SUBREQUESTS,
} from '../measures/edge.js';
import { n, type Target, table } from './markdown.js';

/** Most HTTP requests per task on the commit-hook path, and fewer than this on the tick path. */
const HOOK_TARGET = 2;
const TICK_TARGET = 0.1;

/** `kind count, kind count`, in the order they were first sent. */
function kinds(traffic: Traffic): string {
  return Object.entries(traffic.byKind)
    .map(([kind, count]) => `${kind} ${count}`)
    .join(', ');
}

/** Requests of each kind per task, for the sentence that says what a path's cost is made of. */
function perTask(traffic: Traffic, tasks: number): string {
  return Object.entries(traffic.byKind)
    .map(([kind, count]) => `${n(count / tasks, count % tasks === 0 ? 0 : 3)} ${kind}`)
    .join(' + ');
}

const ms = (value: number) => n(value, 1);

/** The two targets of the edge path, in the shape of the run's target table. */
export function edgeTargets(result: EdgeResult): Target[] {
  const { commitHook, tick, delayMs } = result;
  return [
    {
      target: `neon-http commit-hook path: ≤ ${HOOK_TARGET} HTTP requests per task`,
      value: `${n(commitHook.requestsPerTask, 3)} (at ${delayMs} ms per round trip)`,
      met: commitHook.requestsPerTask <= HOOK_TARGET,
    },
    {
      target: `neon-http tick path: < ${TICK_TARGET} HTTP requests per task`,
      value: `${n(tick.requestsPerTask, 3)} (at ${delayMs} ms per round trip)`,
      met: tick.requestsPerTask < TICK_TARGET,
    },
  ];
}

export function edgeMarkdown(result: EdgeResult): string {
  const { commitHook: hook, batch, tick, delayMs } = result;
  const [free, paid] = WORKERS_SUBREQUESTS;
  const within = (capacity: { subrequests: number; tasks: number }[], limit: number) =>
    n(capacity.find((entry) => entry.subrequests === limit)?.tasks ?? Number.NaN);
  const claims = (tick.traffic.byKind.claim ?? 0) + (tick.traffic.byKind['complete+claim'] ?? 0);
  const batchPerTask = batch.requestsPerEnqueue + batch.tickRequestsPerTask;
  const inFlight = (traffic: Traffic) => `${traffic.maxInFlight} of ${WORKERS_CONNECTIONS}`;
  const wallTasks = Math.floor(WORKERS_CRON_WALL_MS / tick.msPerTask);
  const drained = tick.invocations
    .map(
      (invocation) =>
        `${n(invocation.tasks)} tasks, ${invocation.requests} requests, ${ms(invocation.ms)} ms`,
    )
    .join('; ');
  const latencyRow = (label: string, key: 'enqueueToStartMs' | 'endToEndMs', roundTrips: number) => {
    const at = hook[key];
    const without = hook.withoutDelay[key];
    return [
      label,
      `${roundTrips} × ${delayMs} = ${roundTrips * delayMs}`,
      ms(at.p50),
      ms(at.p95),
      ms(at.p99),
      ms(without.p50),
      ms(without.p99),
    ];
  };
  const parts = [
    `### 8. Edge path: drizzle-orm/neon-http through the local Neon proxy, ${delayMs} ms added per round trip`,
    table(
      [
        'path',
        'tasks',
        'HTTP requests per task',
        'statements per task',
        'most requests open at once',
        'requests by kind',
        `tasks per invocation within ${n(free)} subrequests`,
        `within ${n(paid)}`,
      ],
      [
        [
          'commit hook: `manager.enqueue(task, arg)` on its own',
          n(hook.tasks),
          n(hook.requestsPerTask, 3),
          n(hook.traffic.statements / hook.tasks, 3),
          inFlight(hook.traffic),
          kinds(hook.traffic),
          within(hook.capacity, free),
          within(hook.capacity, paid),
        ],
        [
          '`db.batch([your insert, enqueueStatement])`, started by ticks',
          n(batch.enqueues),
          `${n(batchPerTask, 3)} (${n(batch.requestsPerEnqueue, 3)} batch + ${n(batch.tickRequestsPerTask, 3)} ticks)`,
          n((batch.traffic.statements + batch.ticks.statements) / batch.enqueues, 3),
          inFlight({
            ...batch.ticks,
            maxInFlight: Math.max(batch.ticks.maxInFlight, batch.traffic.maxInFlight),
          }),
          `${kinds(batch.traffic)}; ticks: ${kinds(batch.ticks)}`,
          `${n(Math.floor(free / batch.requestsPerEnqueue))} enqueues`,
          `${n(Math.floor(paid / batch.requestsPerEnqueue))} enqueues`,
        ],
        [
          `tick path: cron ticks, concurrency ${result.concurrency}`,
          n(tick.tasks),
          n(tick.requestsPerTask, 4),
          n(tick.statementsPerTask, 4),
          inFlight(tick.traffic),
          kinds(tick.traffic),
          within(tick.capacity, free),
          within(tick.capacity, paid),
        ],
      ],
    ),
    table(
      [
        'commit hook, one task at a time (ms)',
        'round trips × delay',
        'p50',
        'p95',
        'p99',
        'p50 without the delay',
        'p99 without the delay',
      ],
      [
        latencyRow('`enqueue` called → handler starts', 'enqueueToStartMs', 1),
        latencyRow('`enqueue` called → outcome written', 'endToEndMs', 2),
      ],
    ),
    `What a neon-http statement costs: one HTTP request (a POST to Neon's SQL endpoint), so one ` +
      `round trip from the function to the database's region and one Workers subrequest, each ` +
      `time; no connection outlives it, so there is no interactive transaction, and \`db.batch\` ` +
      `is one request carrying several statements as one transaction. gta's statements per task: ` +
      `on the commit hook ${perTask(hook.traffic, hook.tasks)} (the insert commits and claims the ` +
      `task, the handler starts on its reply, and the outcome's update also records the start), ` +
      `so the handler starts one round trip after \`enqueue\` is called and its outcome is written ` +
      `one later. On the tick path ${claims} claiming statements (\`claim\`, and \`complete+claim\`, ` +
      `which writes the outcomes of the tasks before) served ${n(tick.tasks)} tasks, ` +
      `${n(tick.tasks / claims)} each, the ticks' last claims, which found nothing, included; and ` +
      `every tick sends ${perTask(tick.idleTick, 1)} before its first task.`,
    `Tick path: ${tick.tasks.toLocaleString('en-US')} due tasks drained by ${tick.invocations.length} ` +
      `tick(s) with a ${n(tick.budgetMs / 1000)} s budget, then one that found nothing (${drained}). ` +
      `A tick that finds nothing costs ${tick.idleTick.requests} requests; the first on a fresh ` +
      `table, which runs the maintenance round, ${tick.maintenanceTick.requests} ` +
      `(${kinds(tick.maintenanceTick)}). Beyond the idle cost, ${n(tick.marginalRequestsPerTask, 4)} ` +
      `requests per task; the tasks per invocation above are ` +
      `(limit − ${tick.idleTick.requests}) ÷ that, extrapolated from this backlog. At ` +
      `${n(tick.msPerTask, 2)} ms of wall time per task, a cron invocation's 15 minutes would drain ` +
      `about ${n(wallTasks)}. The handlers are no-ops: a handler's own fetch calls count against the ` +
      `same subrequests and the ${WORKERS_CONNECTIONS} open connections.`,
    `Requests are counted at the proxy, the only way they pass; "most open at once" is the most ` +
      `the proxy held unanswered at one time (fetch opens a connection each). The added delay is ` +
      `split, half before the statement runs and half before the answer; "without the delay" is ` +
      `the same path through a proxy that adds nothing, so the difference is the delay's. CPU time ` +
      `per task, which Workers also limit, is not measured: the proxy runs in the same process.`,
  ];
  return `${parts.join('\n\n')}\n`;
}
