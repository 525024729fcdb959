/**
 * /api/admin/*: gta's admin API and dashboard (`@gta/core/admin`), behind
 * `Authorization: Bearer $ADMIN_TOKEN` or a dashboard sign-in. vercel.json rewrites every
 * /api/admin/… path here. Without ADMIN_TOKEN every request is refused.
 */
import { createAdminApp } from '@gta/core/admin';
import { Hono } from 'hono';
import { manager } from '../src/manager.js';

let app: Hono | undefined;

/** Built on first use, when the environment is known; none without a token. */
function adminApp(): Hono | undefined {
  const token = process.env.ADMIN_TOKEN;
  if (!token) return undefined;
  app ??= new Hono().route('/api/admin', createAdminApp(manager, { token }));
  return app;
}

export const GET = async (request: Request): Promise<Response> =>
  (await adminApp()?.fetch(request)) ?? new Response(null, { status: 401 });
export const POST = GET;
