/**
 * Who may use the admin app. A request is let in by, in this order: the bearer token, a dashboard
 * session cookie minted by `POST login` from that token, or the user's own `authorize` hook. The
 * token is compared through SHA-256 digests in constant time, so neither its content nor its
 * length leaks through timing. Sessions are stateless: an HMAC keyed by the token signs the
 * expiry, so rotating the token ends every session.
 * @module
 */
import type { Context } from 'hono';
import { getCookie } from 'hono/cookie';
import {
  constantTimeEqual,
  fromBase64url,
  hmac,
  hmacKey,
  randomBytes,
  sha256,
  toBase64url,
} from './crypto.js';

/** How a request was let in; cross-site request checks depend on it (see `csrf.ts`). */
export type Credential = 'bearer' | 'session' | 'hook' | 'none';

/** Your own authentication: return true to let the request in. */
export type AuthorizeHook = (c: Context) => boolean | Promise<boolean>;

export const SESSION_COOKIE = 'gta_admin_session';
const SESSION_VERSION = 'v1';

export interface Authenticator {
  /** Whether a bearer token is configured, so the dashboard can offer a login form. */
  readonly acceptsToken: boolean;
  /** How `c` is let in, or null when it brings no valid credentials. */
  credentialOf(c: Context): Promise<Credential | null>;
  /** Whether `presented` is the configured token. */
  tokenMatches(presented: string): Promise<boolean>;
  /** A new session cookie value, valid for the configured time. */
  mintSession(): Promise<string>;
  /** The CSRF token bound to a session cookie value. */
  csrfTokenFor(session: string): Promise<string>;
  /** Whether `presented` is the CSRF token bound to `session`. */
  csrfTokenMatches(session: string, presented: string): Promise<boolean>;
}

export interface AuthConfig {
  token: string | undefined;
  authorize: AuthorizeHook | undefined;
  disabled: boolean;
  sessionTtlMs: number;
}

export function createAuthenticator(config: AuthConfig): Authenticator {
  // Web Crypto only hashes asynchronously; the app is created synchronously, so these are awaited on use.
  const expectedDigest = config.token === undefined ? null : sha256(config.token);
  const sessionKey = config.token === undefined ? null : hmacKey(`gta-admin-session:${config.token}`);

  async function tokenMatches(presented: string): Promise<boolean> {
    if (!expectedDigest) return false;
    return constantTimeEqual(await sha256(presented), await expectedDigest);
  }

  async function sign(payload: string): Promise<Uint8Array> {
    if (!sessionKey) throw new Error('sessions need a configured token');
    return hmac(await sessionKey, payload);
  }

  async function sessionValid(value: string): Promise<boolean> {
    if (!sessionKey) return false;
    const parts = value.split('.');
    if (parts.length !== 4 || parts[0] !== SESSION_VERSION) return false;
    const [, expires, nonce, mac] = parts as [string, string, string, string];
    const presented = fromBase64url(mac);
    if (!presented || !/^\d{1,15}$/.test(expires) || Number(expires) <= Date.now()) return false;
    return constantTimeEqual(presented, await sign(`${SESSION_VERSION}.${expires}.${nonce}`));
  }

  return {
    acceptsToken: expectedDigest !== null,
    tokenMatches,
    async credentialOf(c) {
      if (config.disabled) return 'none';
      const bearer = /^Bearer +(\S+) *$/i.exec(c.req.header('authorization') ?? '')?.[1];
      if (bearer !== undefined && (await tokenMatches(bearer))) return 'bearer';
      const session = getCookie(c, SESSION_COOKIE);
      if (session !== undefined && (await sessionValid(session))) return 'session';
      if (config.authorize && (await config.authorize(c)) === true) return 'hook';
      return null;
    },
    async mintSession() {
      const payload = `${SESSION_VERSION}.${Date.now() + config.sessionTtlMs}.${toBase64url(randomBytes(16))}`;
      return `${payload}.${toBase64url(await sign(payload))}`;
    },
    csrfTokenFor: async (session) => toBase64url(await sign(`csrf.${session}`)),
    async csrfTokenMatches(session, presented) {
      const bytes = fromBase64url(presented);
      return bytes !== null && constantTimeEqual(bytes, await sign(`csrf.${session}`));
    },
  };
}
