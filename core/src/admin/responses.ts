/**
 * Error responses. Every failure answers `{ error: { code, message, issues? } }`; a message is
 * either written here or is a gta input error's (which names the bad input, never SQL). Anything
 * unexpected is logged in full and answered with a generic 500, so no stack trace, SQL or driver
 * message reaches the client.
 * @module
 */
import type { Context } from 'hono';
import { HTTPException } from 'hono/http-exception';
import { describeThrown, ERROR_CODES, errorCauses, isGtaError } from '../errors.js';
import type { Logger } from '../logger.js';

export interface Issue {
  path: string;
  message: string;
}

/** Every status the app answers an error with. */
export type ErrorStatus = 400 | 401 | 403 | 404 | 409 | 413 | 415 | 500;

export function errorJson(
  c: Context,
  status: ErrorStatus,
  code: string,
  message: string,
  issues?: Issue[],
): Response {
  return c.json({ error: { code, message, ...(issues ? { issues } : {}) } }, status);
}

/** The app's `onError`: input errors answer 400 with their message, the rest a bare 500. */
export function errorHandler(logger: Logger) {
  return (error: unknown, c: Context): Response => {
    // Thrown by hono's validator for a body that is not valid JSON.
    if (error instanceof HTTPException)
      return errorJson(c, 400, 'bad_request', error.message || 'bad request');
    if (isGtaError(error, ERROR_CODES.invalidArgument)) {
      return errorJson(c, 400, 'invalid_request', error.message);
    }
    logger.error(
      { method: c.req.method, path: c.req.path, error: describeThrown(error), causes: errorCauses(error) },
      'gta admin: request failed',
    );
    return errorJson(c, 500, 'internal', 'the request failed; the server log has the details');
  };
}
