/**
 * The task state machine, written once. Every status update in the storage module names the
 * transition it makes, and `test/states.test.ts` keeps the diagram in README.md in sync with it.
 *
 * ```
 *                 claim (commit hook: in the insert; tick, runner)
 *   initialized ─────────────────────────────────────▶ running
 *     ▲  ▲  │                                          │  │  │  │
 *     │  │  │ cancel    ┌── retry / rescue / release ──┘  │  │  │ cancel (requested, CancelTask)
 *     │  └──┼───────────┘                      complete   │  │  ▼
 *     │     │                                             ▼  ▼  cancelled
 *     │     └──────────────────────────▶ cancelled  succeeded  failed (no retries left, FailTask, bad row)
 *     └──────────── force rerun (from succeeded, failed, cancelled, running) ──────────┘
 * ```
 * @module
 */

export const TASK_STATES = ['initialized', 'running', 'succeeded', 'failed', 'cancelled'] as const;

export type TaskStatus = (typeof TASK_STATES)[number];

/** Who may move a task from one state to another, and why. */
export const TRANSITIONS = [
  {
    from: 'initialized',
    to: 'running',
    name: 'claim',
    by: 'commit hook (in the enqueue insert), tick, runner',
  },
  { from: 'running', to: 'succeeded', name: 'complete', by: 'executor' },
  { from: 'running', to: 'failed', name: 'fail', by: 'executor, lease rescue' },
  {
    from: 'running',
    to: 'cancelled',
    name: 'cancel',
    by: 'executor (cancel requested, CancelTask thrown), lease rescue (cancel requested)',
  },
  { from: 'running', to: 'initialized', name: 'retry', by: 'executor' },
  { from: 'running', to: 'initialized', name: 'rescue', by: 'tick, runner (lease expired)' },
  {
    from: 'running',
    to: 'initialized',
    name: 'release',
    by: 'manager stop, invocation deadline, tick and commit hook (claimed ahead, never started)',
  },
  { from: 'succeeded', to: 'initialized', name: 'force rerun', by: 'forceRerunTasks, admin' },
  { from: 'failed', to: 'initialized', name: 'force rerun', by: 'forceRerunTasks, admin' },
  { from: 'cancelled', to: 'initialized', name: 'force rerun', by: 'forceRerunTasks, admin' },
  {
    from: 'running',
    to: 'initialized',
    name: 'force rerun',
    by: 'forceRerunTasks, admin (fences the old lease)',
  },
  { from: 'initialized', to: 'initialized', name: 'force rerun', by: 'forceRerunTasks, admin (due now)' },
  { from: 'initialized', to: 'cancelled', name: 'cancel', by: 'cancelTask, admin' },
] as const satisfies readonly { from: TaskStatus; to: TaskStatus; name: string; by: string }[];

export type TransitionName = (typeof TRANSITIONS)[number]['name'];

/** Whether `status` is a status gta knows. */
export function isTaskStatus(status: unknown): status is TaskStatus {
  return typeof status === 'string' && (TASK_STATES as readonly string[]).includes(status);
}

/** The statuses a transition named `name` may start from. */
export function sourcesOf(name: TransitionName): TaskStatus[] {
  return TRANSITIONS.filter((t) => t.name === name).map((t) => t.from);
}
