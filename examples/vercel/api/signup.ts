/**
 * POST /api/signup `{ "email": "…" }`: creates the user and enqueues the welcome in the same
 * transaction. The task exists only if the user does, and starts right after the commit, while
 * the response is already on its way.
 */
import { misconfigured } from '../src/config.js';
import { users } from '../src/db.js';
import { manager } from '../src/manager.js';
import { sendWelcome } from '../src/tasks.js';

const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;
const UNIQUE_VIOLATION = '23505';

export async function POST(request: Request): Promise<Response> {
  const refused = misconfigured('DATABASE_URL');
  if (refused) return refused;
  const body: unknown = await request.json().catch(() => null);
  const email = (body as { email?: unknown } | null)?.email;
  if (typeof email !== 'string' || !EMAIL.test(email)) {
    return Response.json({ error: 'a valid email is required' }, { status: 400 });
  }
  try {
    const user = await manager.transaction(async (tx) => {
      const [created] = await tx.insert(users).values({ email: email.toLowerCase() }).returning();
      await manager.enqueue(sendWelcome, { userId: created!.id }, { tx });
      return created!;
    });
    return Response.json({ id: user.id }, { status: 201 });
  } catch (error) {
    if ((error as { cause?: { code?: string } }).cause?.code === UNIQUE_VIOLATION) {
      return Response.json({ error: 'this email is already registered' }, { status: 409 });
    }
    throw error;
  }
}
