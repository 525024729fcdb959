/**
 * The worker: the Hono app serves requests with a manager each, and every cron event of
 * `wrangler.toml`'s `[triggers]` runs a tick for whatever the commit hooks missed, which also
 * fires the manager's schedules that came due.
 */
import { handle } from '@gta/cloudflare';
import { app } from './app.js';
import type { Env } from './env.js';
import { createManager } from './manager.js';

export default handle(createManager, app) satisfies ExportedHandler<Env>;
