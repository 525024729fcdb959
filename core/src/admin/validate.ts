/**
 * Request validation: hono's `validator` with a zod schema, so handlers read typed, checked input
 * through `c.req.valid(...)` and a bad request is answered 400 with every issue and its path.
 * @module
 */
import type { ValidationTargets } from 'hono';
import { validator } from 'hono/validator';
import type * as z from 'zod';
import { errorJson } from './responses.js';

export function validate<Target extends keyof ValidationTargets, Schema extends z.ZodType>(
  target: Target,
  schema: Schema,
) {
  return validator(target, async (value, c) => {
    const result = await schema.safeParseAsync(value);
    if (result.success) return result.data as z.output<Schema>;
    const issues = result.error.issues.map((issue) => ({
      path: issue.path.map(String).join('.'),
      message: issue.message,
    }));
    const summary = issues.map((issue) => (issue.path ? `${issue.path}: ${issue.message}` : issue.message));
    return errorJson(c, 400, 'invalid_request', `invalid ${target}: ${summary.join('; ')}`, issues);
  });
}
