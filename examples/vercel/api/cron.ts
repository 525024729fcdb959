/**
 * GET /api/cron: called every minute by the cron job in vercel.json, with
 * `Authorization: Bearer $CRON_SECRET`. Runs whatever the commit hook missed, fires the schedules
 * that came due (`src/manager.ts`), and runs maintenance.
 */
import { handleCron } from '@gta/vercel';
import { misconfigured } from '../src/config.js';
import { manager } from '../src/manager.js';

// Keep in step with `functions["api/cron.ts"].maxDuration` in vercel.json; used only where the
// runtime reports no deadline of its own.
const cron = handleCron(manager, { maxDuration: 60, concurrency: 5 });

// Without the secret `handleCron` would refuse every request with a bare 401, which reads like a
// wrong secret; this names the variable instead.
export const GET = async (request: Request): Promise<Response> =>
  misconfigured('CRON_SECRET', 'DATABASE_URL') ?? cron(request);
