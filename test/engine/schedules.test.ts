/**
 * Schedules: create, fire on an interval, overlap policies, pause/resume, update, delete,
 * catch-up after downtime, and clear errors.
 */
import { once } from 'node:events';
import { describe, expect, it } from 'vitest';
import { Engine } from '../../engine/engine.js';
import type { HistoryEvent } from '../../engine/history/events.js';
import type { ScheduleFiredEvent } from '../../engine/schedules/schedules.js';
import { openLevelDbStore } from '../../store/open.js';
import { fixtureBundle, openEngine, silentLogger, tempDir } from '../helpers.js';

const BUNDLE = 'semantics.ts';
const fired = async (engine: Engine): Promise<ScheduleFiredEvent> => ((await once(engine.events, 'scheduleFired')) as [ScheduleFiredEvent])[0];

describe('schedules', () => {
  it('fires on its interval, starting runs linked to the schedule with deterministic ids', async () => {
    const engine = await openEngine({}, BUNDLE);
    const created = await engine.schedules.create({ scheduleId: 'every-second', spec: { intervalMs: '1s' }, action: { workflowType: 'patient', args: [1] } });
    expect(created.nextFireTimes).toHaveLength(5);
    expect(created.nextFireTimes[1].getTime() - created.nextFireTimes[0].getTime()).toBe(1000);
    const first = await fired(engine);
    expect(first.ticks).toEqual([created.nextFireTimes[0]]);
    expect(first.started).toHaveLength(1);
    expect(first.started[0].workflowId).toBe(`every-second-${created.nextFireTimes[0].toISOString()}`);
    const run = engine.getHandle(first.started[0].workflowId, first.started[0].runId);
    expect(await run.result()).toBe('woke');
    expect((await run.describe()).scheduleId).toBe('every-second');
    const second = await fired(engine);
    expect(second.ticks).toEqual([created.nextFireTimes[1]]);
    const description = await engine.schedules.describe('every-second');
    expect(description.fires).toBe(2);
    expect(description.recentActions.map((a) => a.workflowId)).toEqual([first.started[0].workflowId, second.started[0].workflowId]);
    expect((await engine.schedules.list()).map((s) => s.scheduleId)).toEqual(['every-second']);
    await engine.schedules.delete('every-second');
  });

  it('applies overlap policies when a tick meets a running run', async () => {
    const engine = await openEngine({}, BUNDLE);
    const schedule = (scheduleId: string, overlap: 'Skip' | 'AllowAll' | 'BufferOne' | 'CancelOther') =>
      engine.schedules.create({ scheduleId, spec: { cron: '0 0 1 1 *' }, action: { workflowType: 'waitsForever' }, overlap });

    await schedule('skip', 'Skip');
    const skipRuns = (await engine.schedules.trigger('skip')).running!;
    const skipped = await engine.schedules.trigger('skip');
    expect(skipped.running).toEqual(skipRuns);
    expect(skipped.skipped).toBe(1);

    await schedule('all', 'AllowAll');
    await engine.schedules.trigger('all');
    expect((await engine.schedules.trigger('all')).fires).toBe(2);

    await schedule('buffer', 'BufferOne');
    const running = (await engine.schedules.trigger('buffer')).running!;
    expect((await engine.schedules.trigger('buffer')).buffered).toBe(true);
    expect((await engine.schedules.trigger('buffer')).skipped).toBe(1);
    const bufferedFire = fired(engine);
    await engine.getHandle(running.workflowId, running.runId).signal('go');
    const released = await bufferedFire;
    expect(released).toMatchObject({ scheduleId: 'buffer', buffered: false });
    expect(released.started).toHaveLength(1);

    await schedule('cancel', 'CancelOther');
    const old = (await engine.schedules.trigger('cancel')).running!;
    const replacementFire = fired(engine);
    expect((await engine.schedules.trigger('cancel')).buffered).toBe(true);
    expect(await replacementFire).toMatchObject({ started: [] });
    const replaced = fired(engine);
    // The running run is cancelled; once it has closed, the buffered tick starts its replacement.
    expect(await engine.getHandle(old.workflowId, old.runId).result()).toBe('saw cancellation');
    const [replacement] = (await replaced).started;
    expect(replacement.workflowId).not.toBe(old.workflowId);
    expect((await engine.getHandle(replacement.workflowId, replacement.runId).describe()).status).toBe('Running');
  });

  it('pauses, resumes, updates and deletes', async () => {
    const engine = await openEngine({}, BUNDLE);
    await engine.schedules.create({ scheduleId: 'daily', spec: { cron: '0 3 * * *', timezone: 'Europe/Paris' }, action: { workflowType: 'patient', args: [1] } });
    const daily = await engine.schedules.describe('daily');
    // 03:00 in Paris is 01:00 or 02:00 UTC, depending on daylight saving time.
    expect([1, 2]).toContain(daily.nextFireTimes[0].getUTCHours());
    const paused = await engine.schedules.pause('daily');
    expect(paused).toMatchObject({ paused: true, nextFireTimes: [] });
    const resumed = await engine.schedules.resume('daily');
    expect(resumed.paused).toBe(false);
    expect(resumed.nextFireTimes).toHaveLength(5);
    const updated = await engine.schedules.update('daily', { spec: { intervalMs: '1h' }, overlap: 'AllowAll' });
    expect(updated.overlap).toBe('AllowAll');
    expect(updated.nextFireTimes[1].getTime() - updated.nextFireTimes[0].getTime()).toBe(3_600_000);
    await engine.schedules.delete('daily');
    await expect(engine.schedules.describe('daily')).rejects.toThrow(/schedule daily not found/);
  });

  it('refuses bad definitions with clear errors', async () => {
    const engine = await openEngine({}, BUNDLE);
    const action = { workflowType: 'patient' };
    await expect(engine.schedules.create({ scheduleId: 'x', spec: { cron: 'every day' }, action })).rejects.toThrow(/invalid schedule spec/);
    await expect(engine.schedules.create({ scheduleId: 'x', spec: { cron: '* * * * *', timezone: 'Mars/Olympus' }, action })).rejects.toThrow(/invalid schedule spec/);
    await expect(engine.schedules.create({ scheduleId: 'x', spec: {}, action })).rejects.toThrow(/exactly one of cron and intervalMs/);
    await expect(engine.schedules.create({ scheduleId: 'x', spec: { intervalMs: 10 }, action })).rejects.toThrow(/at least 1 second/);
    await expect(engine.schedules.create({ scheduleId: 'x', spec: { intervalMs: '1m' }, action, overlap: 'Sometimes' as never })).rejects.toThrow(/overlap must be one of/);
    await engine.schedules.create({ scheduleId: 'x', spec: { intervalMs: '1m' }, action });
    await expect(engine.schedules.create({ scheduleId: 'x', spec: { intervalMs: '1m' }, action })).rejects.toThrow(/already exists/);
    await expect(engine.schedules.trigger('nope')).rejects.toThrow(/schedule nope not found/);
  });
});

describe('schedule catch-up after downtime', () => {
  for (const [catchup, expected] of [['All', 3], ['One', 1], ['Skip', 0]] as const) {
    it(`${catchup}: fires ${expected} of the 3 ticks missed while the engine was down`, async () => {
      const dataDir = tempDir();
      const first = await Engine.open({ dataDir, logger: silentLogger });
      await first.deploy({ code: await fixtureBundle(BUNDLE) });
      await first.schedules.create({ scheduleId: 'catchup', spec: { intervalMs: '1m' }, action: { workflowType: 'patient', args: [1] }, catchup, overlap: 'AllowAll' });
      await first.close();
      // The engine was down for three and a half intervals: the schedule's anchor and next
      // tick are moved that far into the past, as if its time had passed (no waiting).
      await shiftSchedule(dataDir, 'catchup', -3.5 * 60_000);
      const second = await Engine.open({ dataDir, logger: silentLogger });
      try {
        const event = await fired(second);
        expect(event.started).toHaveLength(expected);
        if (catchup === 'Skip') expect(event.skipped).toBe(3);
        for (const run of event.started) expect(await second.getHandle(run.workflowId, run.runId).result()).toBe('woke');
        const description = await second.schedules.describe('catchup');
        expect(description.fires).toBe(expected);
        expect(description.nextFireTimes[0].getTime()).toBeGreaterThan(Date.now());
      } finally {
        await second.close();
      }
    });
  }
});

/** Moves a stored schedule (its anchor, its next tick and that tick's due entry) by `deltaMs`. */
async function shiftSchedule(dataDir: string, scheduleId: string, deltaMs: number): Promise<void> {
  const store = await openLevelDbStore<HistoryEvent>(dataDir);
  try {
    const record = (await store.getSchedule('default', scheduleId))!;
    const definition = record.definition as { createdAt: number };
    const state = record.state as { nextFireAt: number };
    const due = (nextFireAt: number) => ({ dueAt: nextFireAt, namespace: 'default', owner: scheduleId, key: 'schedule' });
    const moved = { ...record, definition: { ...definition, createdAt: definition.createdAt + deltaMs }, state: { ...state, nextFireAt: state.nextFireAt + deltaMs } };
    await store.write({ schedules: { put: [moved] }, dueEntries: { delete: [due(state.nextFireAt)], put: [due(moved.state.nextFireAt)] } });
  } finally {
    await store.close();
  }
}
