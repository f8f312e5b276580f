/**
 * Residency: runs parked under a byte budget far smaller than the working set are woken from
 * their snapshots; a snapshot that is corrupted, truncated, deleted or taken for other code
 * costs a replay, never correctness; a history too short to be worth a snapshot is parked
 * without one; startup does not rehydrate parked runs.
 */
import { describe, expect, it } from 'vitest';
import { Engine } from '../../engine/engine.js';
import type { WorkflowHandle } from '../../engine/handle.js';
import type { HistoryEvent } from '../../engine/history/events.js';
import { openMemoryStore } from '../../store/open.js';
import type { KvEventStore } from '../../store/kv-event-store.js';
import type { SnapshotRecord } from '../../store/types.js';
import { makeActivities } from '../fixtures/activities.js';
import { fixtureBundle, openEngine, silentLogger, tempDir } from '../helpers.js';

/**
 * Resolves once `count` runs (matching `runId`, if given) have been parked; rejects if they
 * have not within 20 s (before the test's own timeout, so its `finally` closes the engine).
 */
function parked(engine: Engine, count: number, runId?: string): Promise<void> {
  return new Promise((resolve, reject) => {
    let seen = 0;
    const listener = (event: { runId: string }) => {
      if (runId !== undefined && event.runId !== runId) return;
      if (++seen < count) return;
      clearTimeout(timer);
      engine.events.off('runParked', listener);
      resolve();
    };
    const timer = setTimeout(() => {
      engine.events.off('runParked', listener);
      reject(new Error(`${seen} of ${count} runs parked within 20 s`));
    }, 20_000);
    engine.events.on('runParked', listener);
  });
}

/** Resolves once no more than `count` sandboxes are resident (checked now, and as runs are parked). */
function residentAtMost(engine: Engine, count: number): Promise<void> {
  return new Promise<void>((resolve) => {
    const check = () =>
      void metric(engine, /aion_resident_sandboxes (\d+)/).then((resident) => {
        if (resident > count) return;
        engine.events.off('runParked', check);
        resolve();
      });
    // Listening first: a park between the first check and the listener is not missed.
    engine.events.on('runParked', check);
    check();
  });
}

/** These histories are short: every park writes a snapshot only if asked to. */
const EVERY_PARK = { snapshots: { minEvents: 0 } };

const metric = async (engine: Engine, pattern: RegExp): Promise<number> => Number((await engine.metrics.registry.metrics()).match(pattern)?.[1] ?? 0);
const wakes = (engine: Engine, from: 'snapshot' | 'replay') => metric(engine, new RegExp(`aion_run_wakes_total\\{from="${from}"\\} (\\d+)`));

describe('residency', () => {
  it('parks runs beyond a small byte budget and wakes them from snapshots, all finishing correctly', async () => {
    const budget = 2 * 1024 * 1024;
    const engine = await openEngine({ activities: makeActivities(), maxResidentBytes: budget, ...EVERY_PARK });
    const handles = await Promise.all(Array.from({ length: 40 }, (_, i) => engine.start('approval', { workflowId: `a${i}` })));
    // Parking follows the starts: wait until what stays resident fits the budget (a few sandboxes of 40).
    await residentAtMost(engine, 9);
    expect(await metric(engine, /aion_resident_bytes (\d+)/)).toBeLessThanOrEqual(budget);
    expect((await handles[0].describe()).residency).toBe('snapshot');
    for (const [i, handle] of handles.entries()) await handle.signal('approve', `user${i}`);
    for (const handle of handles) await handle.executeUpdate('setLimit', 100);
    const results = await Promise.all(handles.map((handle) => handle.result()));
    expect(results).toEqual(handles.map((_, i) => ({ approvedBy: `user${i}`, limit: 100 })));
    expect(await wakes(engine, 'snapshot')).toBeGreaterThan(40);
    expect(await metric(engine, /aion_snapshots_written_total (\d+)/)).toBeGreaterThan(40);
  });

  const corruptions: [string, (snapshot: SnapshotRecord) => SnapshotRecord | undefined][] = [
    ['flipped bytes', (s) => ({ ...s, data: s.data.map((byte, i) => (i === 100 ? byte ^ 0xff : byte)) })],
    ['truncated data', (s) => ({ ...s, data: s.data.slice(0, s.data.length >> 1) })],
    ['deleted', () => undefined],
    ['another bundle version', (s) => ({ ...s, version: 'f'.repeat(32) })],
    ['another sandbox build', (s) => ({ ...s, build: `${s.build}-other` })],
    ['a position beyond the history', (s) => ({ ...s, eventId: s.eventId + 100 })],
  ];
  for (const [name, corrupt] of corruptions) {
    it(`falls back to replay when the snapshot is ${name}`, async () => {
      const store = (await openMemoryStore<HistoryEvent>()) as KvEventStore<HistoryEvent>;
      const engine = await Engine.open({ store, logger: silentLogger, maxResidentBytes: 0, ...EVERY_PARK });
      try {
        await engine.deploy({ code: await fixtureBundle() });
        const handle = await engine.start('approval');
        // Budget 0: the run is parked once idle, with its snapshot written.
        const isParked = parked(engine, 1, handle.runId);
        await handle.signal('approve', 'ann');
        await isParked;
        const snapshot = (await store.getSnapshot('default', handle.runId!))!;
        const replaced = corrupt(snapshot);
        await store.write(replaced ? { snapshots: { put: [replaced] } } : { snapshots: { delete: [{ namespace: 'default', runId: handle.runId! }] } });
        expect((await handle.describe()).residency).toBe('replay');
        const replaysBefore = await wakes(engine, 'replay');
        expect(await handle.query('status')).toBe('approved by ann');
        expect(await handle.executeUpdate('setLimit', 100)).toBe(0);
        expect(await handle.result()).toEqual({ approvedBy: 'ann', limit: 100 });
        expect(await wakes(engine, 'replay')).toBeGreaterThan(replaysBefore);
      } finally {
        await engine.close();
        await store.close();
      }
    });
  }

  it('parks a history shorter than snapshots.minEvents without a snapshot, and wakes it by replay', async () => {
    const store = (await openMemoryStore<HistoryEvent>()) as KvEventStore<HistoryEvent>;
    const minEvents = 4;
    const engine = await Engine.open({ store, logger: silentLogger, maxResidentBytes: 0, snapshots: { minEvents } });
    try {
      await engine.deploy({ code: await fixtureBundle() });
      // The only run: listening before it starts cannot miss its park.
      const isParked = parked(engine, 1);
      const handle = await engine.start('approval');
      await isParked;
      expect((await handle.history()).length).toBeLessThan(minEvents);
      expect(await store.getSnapshot('default', handle.runId!)).toBeUndefined();
      expect((await handle.describe()).residency).toBe('replay');
      // The signal wakes it by replay; its history then reaches minEvents, and the next park writes a snapshot.
      const parkedAgain = parked(engine, 1, handle.runId);
      await handle.signal('approve', 'ann');
      await parkedAgain;
      expect(await wakes(engine, 'replay')).toBe(1);
      const length = (await handle.history()).length;
      expect(length).toBeGreaterThanOrEqual(minEvents);
      expect((await store.getSnapshot('default', handle.runId!))?.eventId).toBe(length);
      expect(await handle.query('status')).toBe('approved by ann');
      expect(await wakes(engine, 'snapshot')).toBe(1);
      expect(await metric(engine, /aion_snapshots_written_total (\d+)/)).toBe(1);
    } finally {
      await engine.close();
      await store.close();
    }
  });

  it('drops a snapshot that will not be used again: of another build, or of a history now below snapshots.minEvents', async () => {
    const store = (await openMemoryStore<HistoryEvent>()) as KvEventStore<HistoryEvent>;
    try {
      const first = await Engine.open({ store, logger: silentLogger, maxResidentBytes: 0, ...EVERY_PARK });
      let runs: WorkflowHandle[];
      try {
        await first.deploy({ code: await fixtureBundle() });
        const bothParked = parked(first, 2);
        runs = [await first.start('approval'), await first.start('approval')];
        await bothParked;
      } finally {
        await first.close();
      }
      const [intact, otherBuild] = runs;
      const snapshot = (await store.getSnapshot('default', otherBuild.runId!))!;
      await store.write({ snapshots: { put: [{ ...snapshot, build: `${snapshot.build}-other` }] } });

      // As after an upgrade that raised minEvents, or changed the sandbox build.
      const second = await Engine.open({ store, logger: silentLogger, maxResidentBytes: 0, snapshots: { minEvents: 1000 } });
      try {
        for (const run of [intact, otherBuild]) {
          const handle = second.getHandle(run.workflowId, run.runId);
          const isParked = parked(second, 1, run.runId);
          await handle.signal('approve', 'ann');
          await isParked;
          expect(await store.getSnapshot('default', run.runId!)).toBeUndefined();
          expect((await handle.describe()).residency).toBe('replay');
          expect(await handle.query('status')).toBe('approved by ann');
        }
        expect(await wakes(second, 'snapshot')).toBe(1);
      } finally {
        await second.close();
      }
    } finally {
      await store.close();
    }
  });

  it('refuses a snapshots.minEvents that is not a number of events', async () => {
    for (const minEvents of [-1, 2.5, Number.NaN]) {
      await expect(Engine.open({ logger: silentLogger, snapshots: { minEvents } })).rejects.toThrow(/snapshots\.minEvents must be a number of events/);
    }
    await expect(Engine.open({ logger: silentLogger, snapshots: { minEvent: 3 } as never })).rejects.toThrow(/minEvent\b/);
  });

  it('does not rehydrate parked runs at startup; each wakes when it has work', async () => {
    const dataDir = tempDir();
    const first = await Engine.open({ dataDir, logger: silentLogger, maxResidentBytes: 0, ...EVERY_PARK });
    await first.deploy({ code: await fixtureBundle() });
    for (let i = 0; i < 20; i++) await first.start('approval', { workflowId: `p${i}` });
    await first.close();
    const second = await Engine.open({ dataDir, logger: silentLogger });
    try {
      expect(await wakes(second, 'snapshot')).toBe(0);
      expect(await wakes(second, 'replay')).toBe(0);
      await second.getHandle('p7').signal('approve', 'x');
      expect(await second.getHandle('p7').query('status')).toBe('approved by x');
      expect(await wakes(second, 'snapshot')).toBe(1);
      expect(await wakes(second, 'replay')).toBe(0);
    } finally {
      await second.close();
    }
  });
});
