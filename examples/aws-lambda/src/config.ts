/**
 * The environment the function reads, set by template.yaml from the stack's parameters, and the
 * one line that names a missing variable and where to set it: an HTTP request is answered 500
 * with it, a scheduled event runs nothing, and either logs it, instead of failing deeper with a
 * driver's stack trace or refusing with a bare 401.
 */
import { hasDatabase } from './db.js';

/** Shortest token the admin app of `@gta/core/admin` accepts. */
const MIN_ADMIN_TOKEN_LENGTH = 16;

const whereToSet = (parameter: string) =>
  `give \`sam deploy\` the ${parameter} parameter (template.yaml passes it to the function)`;

const problems = {
  DATABASE_URL: () => (hasDatabase ? undefined : `DATABASE_URL is not set: ${whereToSet('DatabaseUrl')}`),
  ADMIN_TOKEN: () => {
    const token = process.env.ADMIN_TOKEN;
    if (!token) return `ADMIN_TOKEN is not set: ${whereToSet('AdminToken')}`;
    if (token.length < MIN_ADMIN_TOKEN_LENGTH) {
      return `ADMIN_TOKEN is shorter than ${MIN_ADMIN_TOKEN_LENGTH} characters: ${whereToSet('AdminToken')}`;
    }
    return undefined;
  },
};

export type Variable = keyof typeof problems;

/** The line naming the first of `variables` that is missing (logged), or undefined when none is. */
export function misconfiguration(...variables: Variable[]): string | undefined {
  for (const variable of variables) {
    const problem = problems[variable]();
    if (problem === undefined) continue;
    console.error(problem);
    return problem;
  }
  return undefined;
}
