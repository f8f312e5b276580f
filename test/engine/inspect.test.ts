/**
 * A run at any event of its history: the answer of a query inspected at event N is the one
 * the live run gave when its history was N events long, on the engine's sandbox threads as
 * offline; the timeline lists each activation.
 */
import { readFileSync } from 'node:fs';
import { relative } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { inspectHistory } from '../../engine/inspector.js';
import { Engine } from '../../engine/engine.js';
import type { HistoryEvent } from '../../engine/history/events.js';
import { openMemoryStore } from '../../store/open.js';
import { fixture, fixtureBundle, openEngine, silentLogger } from '../helpers.js';

const source = readFileSync(fixture('inspected.ts'), 'utf8');
const file = relative(process.cwd(), fixture('inspected.ts'));
const waitLine = source.split('\n').findIndex((line) => line.includes('// waits here')) + 1;

describe('inspecting a run at an event', () => {
  it('answers a query as the live run did at that point, with its info, what it waited on and its logs', async () => {
    const engine = await openEngine({}, 'inspected.ts');
    const handle = await engine.start('accumulator', { args: [10], workflowId: 'acc' });
    const live: { length: number; total: unknown }[] = [];
    for (const n of [1, 2, 3]) {
      await handle.signal('add', n);
      await expect.poll(async () => (await handle.history()).at(-1)?.type).toBe('WorkflowTaskCompleted');
      live.push({ length: (await handle.history()).length, total: await handle.query('total') });
    }
    expect(live.map((point) => point.total)).toEqual([1, 3, 6]);
    for (const point of live) {
      const state = await handle.inspect({ at: point.length, query: 'total' });
      expect(state.eventIndex).toBe(point.length);
      expect(state.query).toEqual({ ok: true, result: point.total });
      expect(state.info).toMatchObject({ workflowId: 'acc', workflowType: 'accumulator' });
      expect(state.pending).toContain(`${file}:${waitLine}:`);
      expect(state.logs.map((line) => line.attributes?.sum)).toEqual(live.filter((p) => p.length <= point.length).map((p) => p.total));
    }
    // Offline, on an exported history and the bundle, the same answer as the engine's.
    const exported = await handle.history();
    const offline = await inspectHistory({ code: await fixtureBundle('inspected.ts') }, exported, { at: live[1].length, query: 'total' });
    expect(offline).toEqual(await handle.inspect({ at: live[1].length, query: 'total' }));
    await expect(handle.inspect({ at: 0 })).rejects.toThrow(/at must be an event index of the history \(1 to \d+\)/);
    await expect(handle.inspect({ at: 10_000 })).rejects.toThrow(/at must be an event index/);
    await handle.signal('add', 4);
    expect(await handle.result()).toBe(10);
    // Inside an activation (its marker, before its commands): the state before that activation.
    const history = await handle.history();
    const lastMarker = history.findLastIndex((event) => event.type === 'WorkflowTaskCompleted') + 1;
    expect(history[lastMarker].type).toBe('WorkflowCompleted');
    expect(await handle.inspect({ at: lastMarker, query: 'total' })).toMatchObject({ eventIndex: lastMarker - 1, query: { ok: true, result: 6 } });
  });

  it('lists each activation in the timeline: what it received, what it did and where, what it logged', async () => {
    const engine = await openEngine({}, 'inspected.ts');
    const handle = await engine.start('accumulator', { args: [3] });
    await handle.signal('add', 1);
    await handle.signal('add', 2);
    await handle.result();
    const timeline = await handle.timeline();
    expect(timeline[0].jobs).toEqual(['WorkflowStarted']);
    expect(timeline.flatMap((step) => step.jobs).filter((job) => job === 'SignalReceived')).toHaveLength(2);
    expect(timeline.at(-1)?.commands).toEqual([{ type: 'WorkflowCompleted' }]);
    expect(timeline.flatMap((step) => step.logs).map((line) => line.message)).toEqual(['added', 'added']);
  });

  it('keeps checkpoints: a later look restores the nearest and replays the rest, with the same answer as a replay from the start', async () => {
    const engine = await openEngine({ checkpoints: { interval: 6 } }, 'inspected.ts');
    const handle = await engine.start('accumulator', { args: [1000], workflowId: 'cp' });
    for (let n = 1; n <= 12; n++) await handle.signal('add', n);
    await expect.poll(async () => handle.query('total')).toBe(78);
    const history = await handle.history();
    const code = await fixtureBundle('inspected.ts');
    const fresh = (at: number) => inspectHistory({ code }, history, { at, query: 'total' });

    const first = await handle.inspect({ at: history.length, query: 'total' });
    expect(first.replayedFrom).toBe(0);
    expect(first).toEqual(await fresh(history.length));
    // Seeking again, near the end then back to the middle: from a checkpoint, the same state (and log lines) as a full replay.
    for (const at of [history.length, history.length - 1, Math.floor(history.length / 2), 7]) {
      const seek = await handle.inspect({ at, query: 'total' });
      const full = await fresh(at);
      expect(seek.replayedFrom).toBeGreaterThan(0);
      expect(seek.replayedFrom).toBeLessThanOrEqual(seek.eventIndex);
      expect({ ...seek, replayedFrom: 0 }).toEqual(full);
    }
    // Before the first checkpoint there is nothing to restore.
    expect((await handle.inspect({ at: 3 })).replayedFrom).toBe(0);
  });

  it("drops a run's checkpoints when it closes, also after the engine restarted in between", async () => {
    const store = await openMemoryStore<HistoryEvent>();
    const open = () => Engine.open({ logger: silentLogger, store, checkpoints: { interval: 4 } });
    const first = await open();
    await first.deploy({ code: await fixtureBundle('inspected.ts') });
    const handle = await first.start('accumulator', { args: [100], workflowId: 'dropped' });
    for (const n of [1, 2, 3, 4, 5]) await handle.signal('add', n);
    await expect.poll(async () => handle.query('total')).toBe(15);
    await handle.inspect({ at: (await handle.history()).length });
    const { runId } = await handle.describe();
    expect((await store.listCheckpoints('default', runId)).length).toBeGreaterThan(0);
    await first.close();

    const second = await open();
    try {
      const reopened = second.getHandle('dropped');
      await reopened.signal('add', 100);
      await reopened.result();
      await vi.waitFor(async () => expect(await store.listCheckpoints('default', runId)).toEqual([]));
    } finally {
      await second.close();
      await store.close();
    }
  });

  it('keeps checkpoints of closed runs when asked, and none at all with interval 0', async () => {
    for (const [checkpoints, restored] of [[{ interval: 4, closedRuns: true }, true], [{ interval: 0 }, false]] as const) {
      const engine = await Engine.open({ logger: silentLogger, checkpoints });
      try {
        await engine.deploy({ code: await fixtureBundle('inspected.ts') });
        const handle = await engine.start('accumulator', { args: [10] });
        for (const n of [1, 2, 3, 4]) await handle.signal('add', n);
        await handle.result();
        const end = (await handle.history()).length;
        await handle.inspect({ at: end });
        expect((await handle.inspect({ at: end })).replayedFrom > 0).toBe(restored);
      } finally {
        await engine.close();
      }
    }
    await expect(Engine.open({ checkpoints: { interval: -1 } })).rejects.toThrow(/checkpoints.interval must be a number of events/);
  });
});
