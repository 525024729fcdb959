/**
 * A property of schedules (SPEC §12) over a simulated day: up to 8 managers sharing one table tick
 * at random instants with random schedules, and every slot after the first tick is enqueued
 * exactly once, none before its time, each by the first tick at or after it.
 */
import { Cron } from 'croner';
import fc from 'fast-check';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createTaskManager, defineTask, silentLogger } from '../src/index.js';
import { createPgliteDatabase, type TestDatabase } from './support/databases.js';

const DAY = 24 * 3600 * 1000;
const CRONS = ['*/7 * * * *', '0 */2 * * *', '30 2 * * *', '15,45 * * * *', '0 9 * * 1-5', '*/20 * * * * *'];
const ZONES = ['UTC', 'Europe/Paris', 'America/New_York', 'Asia/Kolkata'];

let database: TestDatabase;
beforeAll(async () => {
  database = await createPgliteDatabase();
});
afterAll(() => database?.close());

let run = 0;

it('every slot after the first tick fires exactly once, at the first tick at or after it', async () => {
  const task = defineTask({ key: 'recurring', handler: () => {} });
  await fc.assert(
    fc.asyncProperty(
      fc.integer({ min: 1, max: 8 }),
      fc.uniqueArray(fc.record({ cron: fc.constantFrom(...CRONS), timezone: fc.constantFrom(...ZONES) }), {
        minLength: 1,
        maxLength: 3,
        selector: (schedule) => `${schedule.cron}@${schedule.timezone}`,
      }),
      // Gaps between ticks, up to 40 minutes, and which manager ticks each time.
      fc.array(fc.tuple(fc.integer({ min: 1, max: 40 * 60 * 1000 }), fc.nat()), {
        minLength: 30,
        maxLength: 90,
      }),
      async (managerCount, schedules, steps) => {
        const table = `sched_prop_${run++}`;
        const start = Date.parse('2026-03-28T12:00:00Z') + (run % 7) * 3_600_000;
        let now = start;
        const definitions = schedules.map((schedule, index) => ({
          id: `s${index}`,
          task,
          ...schedule,
          catchUp: 'all' as const,
          maxCatchUp: 1000,
        }));
        const managers = Array.from({ length: managerCount }, () =>
          createTaskManager({
            db: database.db,
            table,
            tasks: [task],
            logger: silentLogger,
            clock: () => new Date(now),
            schedules: definitions,
          }),
        );
        await managers[0]!.migrate();
        const ticks: number[] = [];
        for (const [gap, who] of steps) {
          await managers[who % managerCount]!.tick();
          ticks.push(now);
          now = Math.min(now + gap, start + DAY);
        }
        const rows = await database.query<{ schedule_id: string; slot: number; created: number }>(
          `select schedule_id, (extract(epoch from scheduled_for) * 1000)::float8 as slot,
             (extract(epoch from created_at) * 1000)::float8 as created
           from ${table} where schedule_id is not null order by schedule_id, scheduled_for`,
        );
        for (const definition of definitions) {
          const fired = rows.filter((row) => row.schedule_id === definition.id);
          const expected = slotsBetween(definition, ticks[0]!, ticks.at(-1)!);
          expect(fired.map((row) => Number(row.slot))).toEqual(expected);
          for (const row of fired) {
            const firstTickAfter = ticks.find((tick) => tick >= Number(row.slot));
            expect(Number(row.created)).toBe(firstTickAfter);
          }
        }
        await database.exec(
          `drop table "${table}", "${table}_schedules", "${table}_rate_slots", "${table}_migrations"`,
        );
      },
    ),
    { numRuns: 6 },
  );
}, 120_000);

/** The slots of a schedule in (after, until], as croner reads its cron in its zone. */
function slotsBetween(schedule: { cron: string; timezone: string }, after: number, until: number): number[] {
  const pattern = new Cron(schedule.cron, { timezone: schedule.timezone, paused: true });
  const slots: number[] = [];
  for (const slot of pattern.enumerate(new Date(after))) {
    if (slot.getTime() > until) break;
    slots.push(slot.getTime());
  }
  return slots;
}
