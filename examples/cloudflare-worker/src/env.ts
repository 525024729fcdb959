/** The worker's bindings: secrets (`wrangler secret put`), and vars from `wrangler.toml`. */
export interface Env {
  /** The Postgres connection string (Neon's, or any Postgres behind a Neon WebSocket proxy). A secret. */
  DATABASE_URL: string;
  /** The admin token (at least 16 characters) for `/admin` and `POST /setup`. A secret. */
  GTA_ADMIN_TOKEN?: string;
  /** Where invitations are POSTed: your mail provider's endpoint. Unset, they are only logged. */
  MAIL_API_URL?: string;
  /**
   * Local development and tests only: the Neon WebSocket proxy in front of a plain Postgres, as
   * `host:port/path` (`npm run dev` sets it). Unset in production, where Neon serves the socket.
   */
  NEON_WS_PROXY?: string;
}
