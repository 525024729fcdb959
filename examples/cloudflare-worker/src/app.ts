/**
 * The HTTP API, a Hono app. Every route that touches the database gets the request's manager on
 * `c.var.gta` (the `gta()` middleware) and writes inside `manager.transaction`, so the tasks it
 * enqueues exist only if the transaction commits, and start right after the commit, through the
 * request's `waitUntil`.
 */
import { type GtaVariables, gta } from '@gta/cloudflare';
import { createAdminApp } from '@gta/core/admin';
import { and, eq, sql } from 'drizzle-orm';
import { Hono, type MiddlewareHandler } from 'hono';
import { bearerAuth } from 'hono/bearer-auth';
import { HTTPException } from 'hono/http-exception';
import { invitations, SCHEMA, teams } from './db.js';
import { type Env, misconfiguration, type Variable } from './env.js';
import type { Manager } from './manager.js';
import { SEND_INVITATION, type SendInvitation } from './tasks.js';

const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;
/** Most invitations one request may send. */
const MAX_INVITATIONS = 50;
const UNIQUE_VIOLATION = '23505';
const FOREIGN_KEY_VIOLATION = '23503';

class NotEnoughSeats extends Error {}

type AppEnv = { Bindings: Env; Variables: GtaVariables<Manager> };

export const app = new Hono<AppEnv>();

app.onError((error, c) => {
  if (error instanceof HTTPException) return error.getResponse();
  console.error('request failed', error);
  return c.json({ error: 'internal error' }, 500);
});

/** Answers 500 naming the first of `variables` the worker lacks, before anything needs it. */
const requires =
  (...variables: Variable[]): MiddlewareHandler<AppEnv> =>
  async (c, next) => {
    const problem = misconfiguration(c.env, ...variables);
    if (problem) return c.json({ error: problem }, 500);
    await next();
  };

/** Creates the app's tables and gta's task table. Idempotent; run it once after each deploy. */
app.post(
  '/setup',
  requires('GTA_ADMIN_TOKEN', 'DATABASE_URL'),
  (c, next) => bearerAuth<AppEnv>({ token: c.env.GTA_ADMIN_TOKEN! })(c, next),
  gta(),
  async (c) => {
    await c.var.gta.transaction(async (tx) => {
      for (const statement of SCHEMA) await tx.execute(sql.raw(statement));
    });
    return c.json(await c.var.gta.migrate());
  },
);

/** POST /teams `{ "name": "Acme", "seats": 5 }` */
app.post('/teams', requires('DATABASE_URL'), gta(), async (c) => {
  const body = (await c.req.json().catch(() => null)) as { name?: unknown; seats?: unknown } | null;
  const { name, seats } = body ?? {};
  if (typeof name !== 'string' || name.length === 0 || !Number.isInteger(seats) || (seats as number) < 1) {
    return c.json({ error: 'a name and a whole number of seats ≥ 1 are required' }, 400);
  }
  const [team] = await c.var.gta.transaction((tx) =>
    tx
      .insert(teams)
      .values({ name, seats: seats as number })
      .returning({ id: teams.id }),
  );
  return c.json(team, 201);
});

/**
 * POST /teams/:id/invitations `{ "emails": ["ada@example.com", …] }`: records the invitations,
 * enqueues one `send-invitation` task each, and takes the seats, in one transaction. When the
 * team has too few seats left, the transaction rolls back: no invitation, no task, no mail.
 */
app.post('/teams/:id/invitations', requires('DATABASE_URL'), gta(), async (c) => {
  const teamId = Number(c.req.param('id'));
  const body = (await c.req.json().catch(() => null)) as { emails?: unknown } | null;
  const emails = body?.emails;
  if (
    !Number.isSafeInteger(teamId) ||
    !Array.isArray(emails) ||
    emails.length === 0 ||
    emails.length > MAX_INVITATIONS ||
    !emails.every((email) => typeof email === 'string' && EMAIL.test(email))
  ) {
    return c.json({ error: `emails: 1 to ${MAX_INVITATIONS} valid addresses` }, 400);
  }
  const manager = c.var.gta;
  try {
    const invited = await manager.transaction(async (tx) => {
      const rows = await tx
        .insert(invitations)
        .values(emails.map((email: string) => ({ teamId, email: email.toLowerCase() })))
        .returning({ id: invitations.id, email: invitations.email });
      const args: SendInvitation[] = rows.map((row) => ({ invitationId: row.id }));
      const taskIds = await manager.enqueueMany(SEND_INVITATION, args, { tx });
      const reserved = await tx
        .update(teams)
        .set({ seatsUsed: sql`${teams.seatsUsed} + ${rows.length}` })
        .where(and(eq(teams.id, teamId), sql`${teams.seatsUsed} + ${rows.length} <= ${teams.seats}`))
        .returning({ id: teams.id });
      if (reserved.length === 0) throw new NotEnoughSeats();
      return rows.map((row, index) => ({ ...row, taskId: taskIds[index] }));
    });
    // The tasks are committed and already starting; the response does not wait for them.
    return c.json({ invitations: invited }, 201);
  } catch (error) {
    if (error instanceof NotEnoughSeats) return c.json({ error: 'not enough seats left' }, 409);
    const code = (error as { cause?: { code?: string } }).cause?.code;
    if (code === UNIQUE_VIOLATION) return c.json({ error: 'already invited' }, 409);
    if (code === FOREIGN_KEY_VIOLATION) return c.json({ error: 'no such team' }, 404);
    throw error;
  }
});

/**
 * The admin dashboard and API of `@gta/core/admin`, over the request's manager (so it is built
 * per request), behind the admin token.
 */
app.all('/admin/*', requires('GTA_ADMIN_TOKEN', 'DATABASE_URL'), gta(), (c) => {
  const admin = new Hono().route('/admin', createAdminApp(c.var.gta, { token: c.env.GTA_ADMIN_TOKEN! }));
  return admin.fetch(c.req.raw, c.env, c.executionCtx);
});
