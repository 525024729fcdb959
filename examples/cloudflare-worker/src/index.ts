/**
 * The worker: the Hono app serves requests with a manager each, and every cron event of
 * `wrangler.toml`'s `[triggers]` runs a tick for whatever the commit hooks missed, which also
 * fires the manager's schedules that came due.
 */
import { handle } from '@gta/cloudflare';
import { app } from './app.js';
import { type Env, misconfiguration } from './env.js';
import { createManager } from './manager.js';

const worker = handle(createManager, app);

export default {
  fetch: worker.fetch,
  // Without a database a tick would fail with the driver's stack trace at every minute's event;
  // this logs the one line naming DATABASE_URL instead. The app answers requests in that case.
  scheduled(controller, env, ctx) {
    if (misconfiguration(env, 'DATABASE_URL')) return;
    worker.scheduled(controller, env, ctx);
  },
} satisfies ExportedHandler<Env>;
