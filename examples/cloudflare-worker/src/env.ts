/** The worker's bindings: secrets (`wrangler secret put`), and vars from `wrangler.toml`. */
export interface Env {
  /** The Postgres connection string (Neon's, or any Postgres behind a Neon WebSocket proxy). A secret. */
  DATABASE_URL?: string;
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

/** Shortest token the admin app of `@gta/core/admin` accepts. */
const MIN_ADMIN_TOKEN_LENGTH = 16;

const whereToSet = (name: string) =>
  `run \`wrangler secret put ${name}\` (for \`wrangler dev\`, put it in .dev.vars)`;

const problems = {
  DATABASE_URL: (env: Env) =>
    env.DATABASE_URL ? undefined : `DATABASE_URL is not set: ${whereToSet('DATABASE_URL')}`,
  GTA_ADMIN_TOKEN: (env: Env) => {
    const token = env.GTA_ADMIN_TOKEN;
    if (!token) return `GTA_ADMIN_TOKEN is not set: ${whereToSet('GTA_ADMIN_TOKEN')}`;
    if (token.length < MIN_ADMIN_TOKEN_LENGTH) {
      return `GTA_ADMIN_TOKEN is shorter than ${MIN_ADMIN_TOKEN_LENGTH} characters: ${whereToSet('GTA_ADMIN_TOKEN')}`;
    }
    return undefined;
  },
};

export type Variable = keyof typeof problems;

/**
 * The line naming the first of `variables` that `env` lacks, and where to set it (logged), or
 * undefined when none is missing: a request is answered 500 with it and a cron event runs nothing,
 * instead of failing deeper with a driver's stack trace.
 */
export function misconfiguration(env: Env, ...variables: Variable[]): string | undefined {
  for (const variable of variables) {
    const problem = problems[variable](env);
    if (problem === undefined) continue;
    console.error(problem);
    return problem;
  }
  return undefined;
}
