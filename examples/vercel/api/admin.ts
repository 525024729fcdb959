/**
 * /api/admin/*: gta's admin API and dashboard (`@gta/core/admin`), behind
 * `Authorization: Bearer $ADMIN_TOKEN` or a dashboard sign-in. vercel.json rewrites every
 * /api/admin/… path here. Without ADMIN_TOKEN (or DATABASE_URL) every request gets a 500 naming it.
 */
import { createAdminApp } from '@gta/core/admin';
import { Hono } from 'hono';
import { misconfigured } from '../src/config.js';
import { manager } from '../src/manager.js';

let app: Hono | undefined;

/** Built on first use, once the token is known to be there. */
function adminApp(token: string): Hono {
  app ??= new Hono().route('/api/admin', createAdminApp(manager, { token }));
  return app;
}

export const GET = async (request: Request): Promise<Response> =>
  misconfigured('ADMIN_TOKEN', 'DATABASE_URL') ?? adminApp(process.env.ADMIN_TOKEN!).fetch(request);
export const POST = GET;
