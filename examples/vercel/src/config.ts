/**
 * The environment the functions read, checked per request: while a variable is missing, a
 * function answers 500 with one line naming it and where to set it (and logs that line), instead
 * of failing deeper with a driver's stack trace or refusing with a bare 401.
 */
import { hasDatabase } from './db.js';

/** Shortest token the admin app of `@gta/core/admin` accepts. */
const MIN_ADMIN_TOKEN_LENGTH = 16;

const whereToSet = (name: string) =>
  `set it in the project's environment variables (\`vercel env add ${name}\`) and redeploy`;

const problems = {
  DATABASE_URL: () => (hasDatabase ? undefined : `DATABASE_URL is not set: ${whereToSet('DATABASE_URL')}`),
  CRON_SECRET: () =>
    process.env.CRON_SECRET ? undefined : `CRON_SECRET is not set: ${whereToSet('CRON_SECRET')}`,
  ADMIN_TOKEN: () => {
    const token = process.env.ADMIN_TOKEN;
    if (!token) return `ADMIN_TOKEN is not set: ${whereToSet('ADMIN_TOKEN')}`;
    if (token.length < MIN_ADMIN_TOKEN_LENGTH) {
      return `ADMIN_TOKEN is shorter than ${MIN_ADMIN_TOKEN_LENGTH} characters: ${whereToSet('ADMIN_TOKEN')}`;
    }
    return undefined;
  },
};

export type Variable = keyof typeof problems;

/** A 500 naming the first of `variables` that is missing, or undefined when none is. */
export function misconfigured(...variables: Variable[]): Response | undefined {
  for (const variable of variables) {
    const problem = problems[variable]();
    if (problem === undefined) continue;
    console.error(problem);
    return Response.json({ error: problem }, { status: 500 });
  }
  return undefined;
}
