/**
 * Cross-site request protection for every state-changing request (anything but GET, HEAD and
 * OPTIONS). A browser attaches cookies, and the user's own auth may rely on them, to requests
 * another site makes it send; it never attaches a bearer token. So, unless the request carries
 * the bearer token:
 *
 * - it must come from the app's own origin (the browser's `Sec-Fetch-Site: same-origin`, or an
 *   `Origin` equal to the request's or listed in `trustedOrigins`);
 * - with a dashboard session it must also carry `X-GTA-CSRF`, the token bound to that session,
 *   which only the dashboard page (served behind auth) knows.
 *
 * Every state-changing request must also be `Content-Type: application/json`: a cross-site form
 * cannot send that, and a cross-site `fetch` that does needs a CORS preflight this app never grants.
 * @module
 */
import type { Context, MiddlewareHandler } from 'hono';
import { getCookie } from 'hono/cookie';
import { type Authenticator, SESSION_COOKIE } from './auth.js';
import type { AdminEnv } from './env.js';
import { errorJson } from './responses.js';

export const CSRF_HEADER = 'x-gta-csrf';
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);
const JSON_TYPE = /^application\/json\s*(;|$)/i;

function isUnsafe(c: Context): boolean {
  return !SAFE_METHODS.has(c.req.method);
}

/** Whether a browser sent `c` from the app's own page (requests from non-browser clients pass). */
export function fromOwnOrigin(c: Context, trustedOrigins: ReadonlySet<string>): boolean {
  const site = c.req.header('sec-fetch-site');
  if (site === 'same-origin') return true;
  const origin = c.req.header('origin');
  if (origin !== undefined) return origin === new URL(c.req.url).origin || trustedOrigins.has(origin);
  // Browsers send Origin with every cross-origin POST; without both headers this is no browser's.
  return site === undefined || site === 'none';
}

/** Refuses state-changing requests that are not JSON (415), before any body is read. */
export function requireJson(): MiddlewareHandler<AdminEnv> {
  return async (c, next) => {
    if (isUnsafe(c) && !JSON_TYPE.test(c.req.header('content-type') ?? '')) {
      return errorJson(c, 415, 'unsupported_media_type', 'send the body as application/json');
    }
    await next();
  };
}

function crossSite(c: Context): Response {
  return errorJson(c, 403, 'cross_site_request', 'state-changing requests must come from the same origin');
}

/** Refuses a state-changing request that a browser sent from another site (403); for `POST login`. */
export function sameOriginOnly(trustedOrigins: ReadonlySet<string>): MiddlewareHandler<AdminEnv> {
  return async (c, next) => {
    if (isUnsafe(c) && !fromOwnOrigin(c, trustedOrigins)) return crossSite(c);
    await next();
  };
}

/** Runs after authentication: applies the checks above according to how the request got in. */
export function csrfProtection(
  auth: Authenticator,
  trustedOrigins: ReadonlySet<string>,
): MiddlewareHandler<AdminEnv> {
  return async (c, next) => {
    const credential = c.get('credential');
    if (!isUnsafe(c) || credential === 'bearer') return next();
    if (!fromOwnOrigin(c, trustedOrigins)) return crossSite(c);
    if (credential === 'session') {
      const presented = c.req.header(CSRF_HEADER);
      const session = getCookie(c, SESSION_COOKIE) ?? '';
      if (presented === undefined || !(await auth.csrfTokenMatches(session, presented))) {
        return errorJson(c, 403, 'csrf_token', `missing or wrong ${CSRF_HEADER} header`);
      }
    }
    return next();
  };
}
