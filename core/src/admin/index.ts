/**
 * `@gta/core/admin`: a mountable Hono app to inspect and repair tasks (list, filter, stats,
 * abnormal tasks, force rerun, cancel, tick) and schedules (list, pause, resume, trigger) with a
 * dashboard, secure by default. Needs the
 * `hono` and `zod` peer dependencies; imports nothing runtime-specific.
 * @example
 * import { createAdminApp } from '@gta/core/admin';
 * app.route('/admin', createAdminApp(manager, { token: env.GTA_ADMIN_TOKEN }));
 * @module
 */

export { type AdminOptions, createAdminApp, DEFAULT_SESSION_TTL_MS, MIN_TOKEN_LENGTH } from './app.js';
export type { AuthorizeHook, Credential } from './auth.js';
export { CSRF_HEADER } from './csrf.js';
export type { AdminEnv } from './env.js';
export { openApiDocument } from './openapi.js';
export {
  DEFAULT_PAGE_SIZE,
  MAX_BODY_BYTES,
  MAX_OFFSET,
  MAX_PAGE_SIZE,
  MAX_RERUN_IDS,
  MAX_STATS_MINUTES,
  MAX_TICK_BUDGET_MS,
  schemaRegistry,
} from './schemas.js';
