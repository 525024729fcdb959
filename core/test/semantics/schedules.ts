/**
 * Recurring tasks (SPEC §12) on one driver: each slot fired once, catch-up, changes in code,
 * operators' pause, resume and trigger, daylight saving. Managers sharing a table stand for
 * instances; ticks from many processes at once are in schedules.postgres.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import {
  defineTask,
  ERROR_CODES,
  isGtaError,
  type LogFields,
  type ScheduleDefinition,
} from '../../src/index.js';
import { type Harness, manualClock } from './harness.js';

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;

/** A task that records the slot each run fired for. */
function slotRecorder(key = 'recurring') {
  const slots: string[] = [];
  const task = defineTask({
    key,
    handler: (_arg: unknown, ctx) => {
      slots.push(ctx.scheduledFor?.toISOString() ?? 'none');
    },
  });
  return { task, slots };
}

/** A logger that keeps what it was told at warn and error. */
function keptLogger() {
  const lines: { level: string; message: string; fields: LogFields }[] = [];
  const keep = (level: string) => (fields: LogFields, message?: string) =>
    lines.push({ level, message: message ?? '', fields });
  return {
    lines,
    logger: { debug() {}, info() {}, warn: keep('warn'), error: keep('error') },
  };
}

const at = (iso: string) => Date.parse(iso);

export function scheduleSemantics(h: () => Harness) {
  describe('schedules', () => {
    // Guarantee: each (schedule, slot) is enqueued once, by the first tick at or after the slot.
    it('fires each slot once, at the first tick after it, and the handler sees its slot', async () => {
      const clock = manualClock(at('2026-06-01T10:00:30Z'));
      const { task, slots } = slotRecorder();
      const schedule = { id: 'every-minute', task, cron: '* * * * *' };
      const manager = await h().manager([task], { clock: clock.now, schedules: [schedule] });
      expect((await manager.tick()).scheduled).toBe(0); // first seen: starts from now
      clock.advance(10 * SECOND); // 10:00:40, no slot yet
      expect((await manager.tick()).scheduled).toBe(0);
      clock.advance(25 * SECOND); // 10:01:05
      expect(await manager.tick()).toMatchObject({ scheduled: 1, succeeded: 1 });
      expect(await manager.tick()).toMatchObject({ scheduled: 0, claimed: 0 });
      clock.advance(MINUTE); // 10:02:05
      expect(await manager.tick()).toMatchObject({ scheduled: 1, succeeded: 1 });
      expect(slots).toEqual(['2026-06-01T10:01:00.000Z', '2026-06-01T10:02:00.000Z']);
      const rows = await manager.listTasks({ key: task.key });
      expect(rows.map((row) => [row.scheduleId, row.scheduledFor])).toEqual([
        ['every-minute', '2026-06-01T10:02:00.000Z'],
        ['every-minute', '2026-06-01T10:01:00.000Z'],
      ]);
    });

    // Guarantee: managers sharing a table fire a slot once between them, whichever ticks first.
    it('fires a slot once across managers sharing the table', async () => {
      const clock = manualClock(at('2026-06-01T10:00:30Z'));
      const { task, slots } = slotRecorder();
      const schedules = [{ id: 'shared', task, cron: '*/10 * * * * *' }];
      const first = await h().manager([task], { clock: clock.now, schedules });
      const others = await Promise.all(
        [1, 2].map(() => h().manager([task], { clock: clock.now, schedules, table: first.options.table })),
      );
      const managers = [first, ...others];
      let scheduled = 0;
      for (let step = 0; step < 13; step++) {
        for (const manager of managers) scheduled += (await manager.tick()).scheduled;
        clock.advance(5 * SECOND);
      }
      expect(scheduled).toBe(6); // 10:00:40 … 10:01:30
      expect(slots).toEqual(
        ['00:40', '00:50', '01:00', '01:10', '01:20', '01:30'].map((t) => `2026-06-01T10:${t}.000Z`),
      );
    });

    describe('catch-up after downtime', () => {
      async function downtime(schedule: Partial<ScheduleDefinition>) {
        const clock = manualClock(at('2026-06-01T10:00:30Z'));
        const { task, slots } = slotRecorder();
        const kept = keptLogger();
        const manager = await h().manager([task], {
          clock: clock.now,
          logger: kept.logger,
          schedules: [{ id: 'hourly-ish', task, cron: '*/10 * * * *', ...schedule }],
        });
        await manager.tick();
        clock.advance(HOUR); // 11:00:30: 10:10 … 11:00 missed
        const report = await manager.tick();
        return { report, slots, warnings: kept.lines.filter((line) => line.level === 'warn') };
      }

      it("'latest' (the default) fires only the newest missed slot", async () => {
        const { report, slots } = await downtime({});
        expect(report.scheduled).toBe(1);
        expect(slots).toEqual(['2026-06-01T11:00:00.000Z']);
      });

      it("'all' fires every missed slot, in order", async () => {
        const { report, slots, warnings } = await downtime({ catchUp: 'all' });
        expect(report.scheduled).toBe(6);
        expect(slots).toEqual(
          ['10:10', '10:20', '10:30', '10:40', '10:50', '11:00'].map((t) => `2026-06-01T${t}:00.000Z`),
        );
        expect(warnings).toEqual([]);
      });

      it("'all' stops at maxCatchUp and logs how many it dropped", async () => {
        const { report, slots, warnings } = await downtime({ catchUp: 'all', maxCatchUp: 2 });
        expect(report.scheduled).toBe(2);
        expect(slots).toEqual(['2026-06-01T10:50:00.000Z', '2026-06-01T11:00:00.000Z']);
        expect(warnings).toHaveLength(1);
        expect(warnings[0]!.fields).toMatchObject({ scheduleId: 'hourly-ish', fired: 2, dropped: 4 });
      });

      it("'none' skips slots seen later than missedAfterMs, and fires those on time", async () => {
        const late = await downtime({ catchUp: 'none' }); // 11:00 seen 30 s late: within a minute
        expect(late.slots).toEqual(['2026-06-01T11:00:00.000Z']);
        const stricter = await downtime({ catchUp: 'none', missedAfterMs: 10 * SECOND });
        expect(stricter.report.scheduled).toBe(0);
        expect(stricter.slots).toEqual([]);
      });
    });

    it('a changed cron takes effect at the next tick, without firing the new slots already past', async () => {
      const clock = manualClock(at('2026-06-01T10:00:30Z'));
      const { task, slots } = slotRecorder();
      const before = await h().manager([task], {
        clock: clock.now,
        schedules: [{ id: 'changing', task, cron: '0 * * * *', catchUp: 'all' }],
      });
      await before.tick();
      clock.advance(30 * MINUTE); // 10:30:30
      const after = await h().manager([task], {
        clock: clock.now,
        table: before.options.table,
        schedules: [{ id: 'changing', task, cron: '*/5 * * * *', catchUp: 'all' }],
      });
      expect((await after.tick()).scheduled).toBe(0); // 10:05 … 10:30 are not caught up
      clock.advance(5 * MINUTE); // 10:35:30
      expect((await after.tick()).scheduled).toBe(1);
      expect(slots).toEqual(['2026-06-01T10:35:00.000Z']);
    });

    it('a schedule removed from code stops firing and is listed as inactive', async () => {
      const clock = manualClock(at('2026-06-01T10:00:30Z'));
      const { task, slots } = slotRecorder();
      const before = await h().manager([task], {
        clock: clock.now,
        schedules: [{ id: 'retired', task, cron: '* * * * *' }],
      });
      await before.tick();
      clock.advance(MINUTE);
      await before.tick();
      const after = await h().manager([task], { clock: clock.now, table: before.options.table });
      clock.advance(5 * MINUTE);
      expect((await after.tick()).scheduled).toBe(0);
      expect(slots).toHaveLength(1);
      const [listed] = await after.listSchedules();
      expect(listed).toMatchObject({
        id: 'retired',
        task: task.key,
        cron: '* * * * *',
        active: false,
        nextSlot: null,
        lastTask: { scheduledFor: '2026-06-01T10:01:00.000Z', status: 'succeeded' },
      });
    });

    // Guarantee: a pause is stored in the table, so no instance fires the schedule while paused;
    // a resume starts it from then on, without the slots that passed meanwhile.
    it('pauses for every instance and resumes from the next slot', async () => {
      const clock = manualClock(at('2026-06-01T10:00:30Z'));
      const { task, slots } = slotRecorder();
      const schedules = [{ id: 'pausable', task, cron: '* * * * *', catchUp: 'all' as const }];
      const operator = await h().manager([task], { clock: clock.now, schedules });
      const worker = await h().manager([task], {
        clock: clock.now,
        schedules,
        table: operator.options.table,
      });
      await worker.tick();
      expect(await operator.pauseSchedule('pausable')).toBe(true);
      clock.advance(3 * MINUTE); // 10:03:30
      expect((await worker.tick()).scheduled).toBe(0);
      expect((await operator.listSchedules())[0]).toMatchObject({ paused: true, active: true });
      expect(await operator.resumeSchedule('pausable')).toBe(true);
      expect((await worker.tick()).scheduled).toBe(0); // 10:01 … 10:03 passed while paused
      clock.advance(MINUTE); // 10:04:30
      expect((await worker.tick()).scheduled).toBe(1);
      expect(slots).toEqual(['2026-06-01T10:04:00.000Z']);
      expect(await operator.pauseSchedule('no-such-schedule')).toBe(false);
    });

    it('triggers a schedule now, outside its slots, which fire as before', async () => {
      const clock = manualClock(at('2026-06-01T10:00:30Z'));
      const { task, slots } = slotRecorder();
      const manager = await h().manager([task], {
        clock: clock.now,
        schedules: [{ id: 'manual', task, cron: '0 0 1 1 *', arg: { n: 1 } }],
      });
      const id = await manager.triggerSchedule('manual');
      expect(slots).toEqual(['2026-06-01T10:00:30.000Z']);
      expect(await manager.getTask(id)).toMatchObject({
        status: 'succeeded',
        arg: { n: 1 },
        scheduleId: 'manual',
      });
      const error = await manager.triggerSchedule('undefined-here').catch((thrown: unknown) => thrown);
      expect(isGtaError(error, ERROR_CODES.invalidArgument)).toBe(true);
    });

    // Guarantee: a trigger at the very instant of a slot, before or after the slot fired, is a run of
    // its own: the slot fires as well and the trigger succeeds.
    it('a trigger at the instant of a slot and the slot both run, in either order', async () => {
      const clock = manualClock(at('2026-06-01T10:00:30Z'));
      const { task, slots } = slotRecorder();
      const manager = await h().manager([task], {
        clock: clock.now,
        schedules: [{ id: 'minutely', task, cron: '* * * * *' }],
      });
      await manager.tick();
      clock.advance(30_000); // 10:01:00
      await manager.triggerSchedule('minutely'); // before the slot fires
      expect((await manager.tick()).scheduled).toBe(1);
      clock.advance(60_000); // 10:02:00
      expect((await manager.tick()).scheduled).toBe(1);
      const id = await manager.triggerSchedule('minutely'); // after the slot fired
      expect(await manager.getTask(id)).toMatchObject({
        status: 'succeeded',
        scheduledFor: '2026-06-01T10:02:00.000Z',
      });
      expect(slots).toEqual([
        '2026-06-01T10:01:00.000Z',
        '2026-06-01T10:01:00.000Z',
        '2026-06-01T10:02:00.000Z',
        '2026-06-01T10:02:00.000Z',
      ]);
      const [listed] = await manager.listSchedules();
      expect(listed!.lastTask).toMatchObject({ scheduledFor: '2026-06-01T10:02:00.000Z' });
    });

    // Croner reads the cron in the zone: 02:30 does not exist on the spring-forward day (it fires at
    // 03:00, once) and exists twice on the fall-back day (it fires at the first, once).
    it('fires a 02:30 Europe/Paris schedule once on each daylight-saving change day', async () => {
      for (const [from, fired] of [
        ['2026-03-28T12:00:00Z', ['2026-03-29T01:00:00.000Z']],
        ['2026-10-24T12:00:00Z', ['2026-10-25T00:30:00.000Z']],
      ] as const) {
        const clock = manualClock(at(from));
        const { task, slots } = slotRecorder();
        const manager = await h().manager([task], {
          clock: clock.now,
          schedules: [{ id: 'paris', task, cron: '30 2 * * *', timezone: 'Europe/Paris', catchUp: 'all' }],
        });
        for (let tick = 0; tick < 24 * 4; tick++) {
          await manager.tick();
          clock.advance(15 * MINUTE);
        }
        expect(slots).toEqual(fired);
      }
    });

    it('refuses an invalid cron, an unknown time zone, an unknown task and a second id, with a typed error', async () => {
      const { task } = slotRecorder();
      const attempts: Partial<ScheduleDefinition>[] = [
        { cron: '61 * * * *' },
        { cron: 'every minute' },
        { cron: '* * * * *', timezone: 'Mars/Olympus' },
        { cron: '* * * * *', task: 'not-registered' },
        { cron: '* * * * *', catchUp: 'some' as never },
        { cron: '* * * * *', maxCatchUp: 0 },
      ];
      for (const attempt of attempts) {
        const error = await h()
          .manager([task], { schedules: [{ id: 'bad', task, cron: '', ...attempt }] })
          .catch((thrown: unknown) => thrown);
        expect(isGtaError(error, ERROR_CODES.invalidOption), JSON.stringify(attempt)).toBe(true);
        expect(String((error as Error).message)).toMatch(/^schedule "bad": /);
      }
      // An id the database cannot store would fail every round of every schedule of the manager.
      for (const id of ['nul\u0000', 'half\ud800']) {
        const error = await h()
          .manager([task], { schedules: [{ id, task, cron: '* * * * *' }] })
          .catch((thrown: unknown) => thrown);
        expect(isGtaError(error, ERROR_CODES.invalidOption), JSON.stringify(id)).toBe(true);
        expect(String((error as Error).message)).toMatch(/id cannot be stored/);
      }
      const manager = await h().manager([task], { schedules: [{ id: 'twice', task, cron: '* * * * *' }] });
      expect(() => manager.schedule({ id: 'twice', task, cron: '0 * * * *' })).toThrow(/already defined/);
    });

    it('a schedule whose argument its task refuses is logged and fires nothing, and the others fire', async () => {
      const clock = manualClock(at('2026-06-01T10:00:30Z'));
      const strict = defineTask({
        key: 'strict',
        schema: z.object({ n: z.number() }),
        handler: () => {},
      });
      const { task, slots } = slotRecorder();
      const kept = keptLogger();
      const manager = await h().manager([strict, task], {
        clock: clock.now,
        logger: kept.logger,
        schedules: [
          { id: 'refused', task: strict, cron: '* * * * *', arg: { n: 'one' } },
          { id: 'fine', task, cron: '* * * * *' },
        ],
      });
      await manager.tick();
      clock.advance(MINUTE);
      expect((await manager.tick()).scheduled).toBe(1);
      expect(slots).toEqual(['2026-06-01T10:01:00.000Z']);
      const errors = kept.lines.filter((line) => line.level === 'error');
      expect(errors.length).toBeGreaterThan(0);
      expect(errors[0]).toMatchObject({ fields: { scheduleId: 'refused' } });
      expect(String(errors[0]!.fields.error)).toMatch(/schedule refused/);
    });
  });
}
