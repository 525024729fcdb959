/**
 * The admin app's hono environment: what the middleware hands the routes.
 * @module
 */
import type { Credential } from './auth.js';

export interface AdminEnv {
  Variables: {
    /** How the request was let in. */
    credential: Credential;
  };
}
