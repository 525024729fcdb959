/**
 * The example's tasks: send an invitation through the mail API, and, on a schedule, expire the
 * invitations past their time. Their handlers need the invocation's database and bindings, so
 * `createManager` builds the definitions per invocation, and routes enqueue them by key.
 */
import { CancelTask, defineTask } from '@gta/core';
import { eq, sql } from 'drizzle-orm';
import { type Database, invitations, teams } from './db.js';
import type { Env } from './env.js';

export const SEND_INVITATION = 'send-invitation';

export interface SendInvitation {
  invitationId: number;
}

export function sendInvitation(db: Database, env: Env) {
  return defineTask({
    key: SEND_INVITATION,
    retryTimes: 3,
    retryInterval: (attempt) => 1000 * 2 ** attempt * (0.5 + Math.random()),
    // Well within the 30 s Workers give the commit hook's work after the response.
    timeoutMs: 5_000,
    handler: async ({ invitationId }: SendInvitation, ctx) => {
      const [invitation] = await db
        .select({ email: invitations.email, team: teams.name })
        .from(invitations)
        .innerJoin(teams, eq(teams.id, invitations.teamId))
        .where(eq(invitations.id, invitationId));
      if (!invitation) throw new CancelTask(`invitation ${invitationId} does not exist`);
      const mail = {
        to: invitation.email,
        subject: `You are invited to ${invitation.team}`,
        text: `Join ${invitation.team} on our app.`,
      };
      if (env.MAIL_API_URL) {
        // The key is the same on every attempt, so a retried task never sends the mail twice.
        const response = await fetch(env.MAIL_API_URL, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'idempotency-key': `invitation-${invitationId}` },
          body: JSON.stringify(mail),
          signal: ctx.signal,
        });
        const answer = await response.text();
        if (!response.ok) throw new Error(`the mail API answered ${response.status}: ${answer}`);
      } else {
        ctx.logger.info(mail, 'MAIL_API_URL is not set: the invitation is only logged');
      }
      await db.update(invitations).set({ sentAt: sql`now()` }).where(eq(invitations.id, invitationId));
    },
  });
}

export const EXPIRE_INVITATIONS = 'expire-invitations';
/** How long an invitation holds its seat. */
export const INVITATION_TTL_DAYS = 7;
const DAY_MS = 24 * 60 * 60 * 1000;

/**
 * Deletes the invitations older than {@link INVITATION_TTL_DAYS} and gives their seats back, in
 * one statement. A schedule fires it (`createManager`); the age is counted from the slot it fired
 * for, so a run that starts late, or again after a failure, expires the same invitations.
 */
export function expireInvitations(db: Database) {
  return defineTask({
    key: EXPIRE_INVITATIONS,
    retryTimes: 3,
    timeoutMs: 10_000,
    handler: async (_arg: null, ctx) => {
      const asOf = ctx.scheduledFor ?? new Date();
      const before = new Date(asOf.getTime() - INVITATION_TTL_DAYS * DAY_MS);
      const { rows } = await db.execute<{ expired: number }>(sql`
        with expired as (
          delete from invitations where created_at < ${before.toISOString()}::timestamptz returning team_id),
        freed as (
          update teams set seats_used = seats_used - counted.seats
          from (select team_id, count(*)::int as seats from expired group by team_id) counted
          where teams.id = counted.team_id)
        select count(*)::int as expired from expired`);
      ctx.logger.info(
        { expired: rows[0]?.expired ?? 0, createdBefore: before.toISOString() },
        'invitations expired',
      );
    },
  });
}
