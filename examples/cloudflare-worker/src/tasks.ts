/**
 * The example's task: send an invitation through the mail API. Its handler needs the invocation's
 * database and bindings, so `createManager` builds the definition per invocation, and routes
 * enqueue it by key.
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
