/**
 * `createAdminApp`: the admin API and dashboard as one Hono app, secure by default.
 * @module
 */
import { Hono } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { getCookie } from 'hono/cookie';
import { ERROR_CODES, GtaError } from '../errors.js';
import type { TaskManager } from '../manager.js';
import { type AuthorizeHook, createAuthenticator, SESSION_COOKIE } from './auth.js';
import { randomBytes, toBase64url } from './crypto.js';
import { csrfProtection, requireJson, sameOriginOnly } from './csrf.js';
import { dashboardPage, loginPage, pagePolicy } from './dashboard.js';
import type { AdminEnv } from './env.js';
import { openApiDocument } from './openapi.js';
import { errorHandler, errorJson } from './responses.js';
import { apiRoutes } from './routes.js';
import { emptyBody, loginBody, MAX_BODY_BYTES } from './schemas.js';
import { validate } from './validate.js';

/** The shortest token accepted: shorter ones can be guessed. */
export const MIN_TOKEN_LENGTH = 16;
/** How long a dashboard sign-in lasts by default: a working day. */
export const DEFAULT_SESSION_TTL_MS = 8 * 60 * 60 * 1000;

export interface AdminOptions {
  /**
   * The admin token (at least 16 characters; use a random one). Clients send it as
   * `Authorization: Bearer <token>`; the dashboard exchanges it for a session cookie.
   */
  token?: string;
  /**
   * Your own authentication, for requests that bring no valid token or session: return true to
   * let the request in (check your session cookie, a header set by your identity proxy, …).
   * Its requests get the same cross-site protection as the dashboard's.
   */
  authorize?: AuthorizeHook;
  /**
   * Serves the app to anyone who can reach it. Only for a private network or local development;
   * logged as a warning when the app is created. Cannot be combined with `token` or `authorize`.
   */
  insecureDisableAuth?: true;
  /**
   * Origins, besides the request's own, allowed to send state-changing requests without the
   * bearer token, such as `https://ops.example.com` when a proxy changes the host the app sees.
   */
  trustedOrigins?: string[];
  /** How long a dashboard sign-in lasts. @defaultValue 8 hours */
  sessionTtlMs?: number;
}

function invalidOption(message: string): GtaError {
  return new GtaError(ERROR_CODES.invalidOption, `createAdminApp: ${message}`);
}

function checkOptions(options: AdminOptions): void {
  if (typeof options !== 'object' || options === null) throw invalidOption('options must be an object');
  const { token, authorize, insecureDisableAuth, trustedOrigins, sessionTtlMs } = options;
  if (insecureDisableAuth !== undefined && insecureDisableAuth !== true) {
    throw invalidOption('insecureDisableAuth must be true or absent');
  }
  if (insecureDisableAuth && (token !== undefined || authorize !== undefined)) {
    throw invalidOption('insecureDisableAuth cannot be combined with token or authorize');
  }
  if (!insecureDisableAuth && token === undefined && authorize === undefined) {
    throw invalidOption(
      'give a token, an authorize hook, or both; to serve without any authentication, say so with insecureDisableAuth: true',
    );
  }
  if (token !== undefined && (typeof token !== 'string' || token.length < MIN_TOKEN_LENGTH)) {
    throw invalidOption(`token must be a string of at least ${MIN_TOKEN_LENGTH} characters`);
  }
  if (authorize !== undefined && typeof authorize !== 'function') {
    throw invalidOption('authorize must be a function');
  }
  if (trustedOrigins !== undefined) {
    for (const origin of trustedOrigins) {
      if (typeof origin !== 'string' || !URL.canParse(origin) || new URL(origin).origin !== origin) {
        throw invalidOption(
          `trustedOrigins takes origins such as https://ops.example.com, got ${String(origin)}`,
        );
      }
    }
  }
  if (sessionTtlMs !== undefined && !(Number.isInteger(sessionTtlMs) && sessionTtlMs > 0)) {
    throw invalidOption('sessionTtlMs must be a whole number of milliseconds > 0');
  }
}

/** The session cookie's header. Without a Path, the browser scopes it to the folder of the login URL: the mount point. */
function sessionCookie(value: string, maxAgeSeconds: number, secure: boolean): string {
  return `${SESSION_COOKIE}=${value}; Max-Age=${maxAgeSeconds}; HttpOnly; SameSite=Strict${secure ? '; Secure' : ''}`;
}

/**
 * Creates the admin app over `manager`: the JSON API under `api/`, its OpenAPI document at
 * `openapi.json`, and the dashboard at the root. Every route needs credentials (see
 * {@link AdminOptions}); mount it wherever you like, in the worker that runs your tasks.
 * @example
 * const app = new Hono();
 * app.route('/admin', createAdminApp(manager, { token: env.GTA_ADMIN_TOKEN }));
 */
export function createAdminApp(manager: TaskManager<any>, options: AdminOptions): Hono<AdminEnv> {
  checkOptions(options);
  const logger = manager.options.logger;
  if (options.insecureDisableAuth) {
    logger.warn(
      {},
      'gta admin: authentication is disabled (insecureDisableAuth); anyone who can reach the admin app can read, rerun and cancel tasks',
    );
  }
  const sessionTtlMs = options.sessionTtlMs ?? DEFAULT_SESSION_TTL_MS;
  const auth = createAuthenticator({
    token: options.token,
    authorize: options.authorize,
    disabled: options.insecureDisableAuth === true,
    sessionTtlMs,
  });
  const trustedOrigins = new Set(options.trustedOrigins ?? []);
  const limitBody = bodyLimit({
    maxSize: MAX_BODY_BYTES,
    onError: (c) => errorJson(c, 413, 'payload_too_large', 'the request body is too large'),
  });

  const app = new Hono<AdminEnv>();
  app.onError(errorHandler(logger));

  app.use('*', async (c, next) => {
    c.header('Cache-Control', 'no-store');
    c.header('X-Content-Type-Options', 'nosniff');
    c.header('Referrer-Policy', 'no-referrer');
    c.header('X-Frame-Options', 'DENY');
    c.header('Content-Security-Policy', "default-src 'none'; frame-ancestors 'none'");
    await next();
  });

  // `/admin/` as well as `/admin`: a relative redirect, so it is right under `route` and `mount` alike.
  app.use('*', async (c, next) => {
    const path = c.req.path;
    if (c.req.method !== 'GET' || path === '/' || !path.endsWith('/')) return next();
    const last = path.slice(0, -1).split('/').pop();
    return c.redirect(`../${last}${new URL(c.req.url).search}`, 308);
  });

  // The dashboard checks credentials itself, to answer the login form rather than JSON.
  app.get('/', async (c) => {
    const credential = await auth.credentialOf(c);
    const nonce = toBase64url(randomBytes(16));
    c.header('Content-Security-Policy', pagePolicy(nonce));
    if (credential === null) return c.html(loginPage({ nonce, acceptsToken: auth.acceptsToken }), 401);
    const session = credential === 'session' ? getCookie(c, SESSION_COOKIE) : undefined;
    const csrfToken = session === undefined ? '' : await auth.csrfTokenFor(session);
    return c.html(dashboardPage({ nonce, csrfToken, canLogOut: session !== undefined }));
  });

  if (auth.acceptsToken) {
    // Open to requests without credentials, as it is where they are presented.
    app.post(
      '/login',
      sameOriginOnly(trustedOrigins),
      requireJson(),
      limitBody,
      validate('json', loginBody),
      async (c) => {
        if (!(await auth.tokenMatches(c.req.valid('json').token))) {
          return errorJson(c, 401, 'unauthorized', 'wrong token');
        }
        const secure = new URL(c.req.url).protocol === 'https:';
        c.header(
          'Set-Cookie',
          sessionCookie(await auth.mintSession(), Math.ceil(sessionTtlMs / 1000), secure),
        );
        return c.body(null, 204);
      },
    );
  }

  app.use('*', async (c, next) => {
    const credential = await auth.credentialOf(c);
    if (credential === null) {
      c.header('WWW-Authenticate', 'Bearer realm="gta admin"');
      return errorJson(c, 401, 'unauthorized', 'credentials required: send Authorization: Bearer <token>');
    }
    c.set('credential', credential);
    await next();
  });
  app.use('*', requireJson(), csrfProtection(auth, trustedOrigins), limitBody);

  app.post('/logout', validate('json', emptyBody), (c) => {
    c.header('Set-Cookie', sessionCookie('', 0, new URL(c.req.url).protocol === 'https:'));
    return c.body(null, 204);
  });

  app.get('/openapi.json', (c) => c.json(openApiDocument(c.req.path.slice(0, -'/openapi.json'.length))));
  app.route('/api', apiRoutes(manager));
  app.all('*', (c) => errorJson(c, 404, 'not_found', 'no such admin route'));
  return app;
}
