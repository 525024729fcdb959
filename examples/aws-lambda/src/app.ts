/**
 * The HTTP API: POST /signup `{ "email": "…" }` creates the user and enqueues the welcome in the
 * same transaction; the task exists only if the user does. /admin serves gta's admin API and
 * dashboard behind `Authorization: Bearer $ADMIN_TOKEN`. While a variable they need is missing,
 * they answer 500 with a line naming it.
 */
import { createAdminApp } from '@gta/core/admin';
import { Hono } from 'hono';
import { misconfiguration } from './config.js';
import { users } from './db.js';
import { manager } from './manager.js';
import { sendWelcome } from './tasks.js';

const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;
const UNIQUE_VIOLATION = '23505';

export const app = new Hono();

app.post('/signup', async (c) => {
  const problem = misconfiguration('DATABASE_URL');
  if (problem) return c.json({ error: problem }, 500);
  const body: unknown = await c.req.json().catch(() => null);
  const email = (body as { email?: unknown } | null)?.email;
  if (typeof email !== 'string' || !EMAIL.test(email))
    return c.json({ error: 'a valid email is required' }, 400);
  try {
    const user = await manager.transaction(async (tx) => {
      const [created] = await tx.insert(users).values({ email: email.toLowerCase() }).returning();
      await manager.enqueue(sendWelcome, { userId: created!.id }, { tx });
      return created!;
    });
    return c.json({ id: user.id }, 201);
  } catch (error) {
    if ((error as { cause?: { code?: string } }).cause?.code === UNIQUE_VIOLATION) {
      return c.json({ error: 'this email is already registered' }, 409);
    }
    throw error;
  }
});

let admin: ReturnType<typeof createAdminApp> | undefined;

// Built on first use, once the token is known to be there.
app.mount('/admin', (request) => {
  const problem = misconfiguration('ADMIN_TOKEN', 'DATABASE_URL');
  if (problem) return Response.json({ error: problem }, { status: 500 });
  admin ??= createAdminApp(manager, { token: process.env.ADMIN_TOKEN! });
  return admin.fetch(request);
});
