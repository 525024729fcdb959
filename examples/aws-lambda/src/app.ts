/**
 * The HTTP API: POST /signup `{ "email": "…" }` creates the user and enqueues the welcome in the
 * same transaction; the task exists only if the user does.
 */
import { Hono } from 'hono';
import { users } from './db.js';
import { manager } from './manager.js';
import { sendWelcome } from './tasks.js';

const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;
const UNIQUE_VIOLATION = '23505';

export const app = new Hono();

app.post('/signup', async (c) => {
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
