/**
 * Reset: a new run under the same workflow id whose history is a prefix of the old run's,
 * optionally on another version (checked by replay first), carrying on from there: pending
 * activities run again, later signals are delivered again, the old run is terminated and both
 * are linked.
 */
import { describe, expect, it } from 'vitest';
import { Engine } from '../../engine/engine.js';
import { DeterminismViolationError } from '../../engine/errors.js';
import { replayHistory } from '../../engine/replay-history.js';
import { fixtureBundle, silentLogger } from '../helpers.js';

describe('engine.reset', () => {
  it('continues a run whose task keeps failing from before the bug, on a fixed version; the old run is terminated and linked', async () => {
    let charges = 0;
    const engine = await Engine.open({ logger: silentLogger, activities: { charge: async (amount: number) => (charges++, amount) }, supervision: { initialBackoffMs: 60_000, maxBackoffMs: 60_000 } });
    try {
      await engine.deploy({ code: await fixtureBundle('task-failures-v1.ts') });
      const old = await engine.start('invoice', { args: [5], workflowId: 'inv' });
      await expect.poll(async () => (await old.describe()).supervision?.crashes ?? 0).toBe(1);
      const scheduled = (await old.history()).find((event) => event.type === 'ActivityScheduled')!.eventId;
      const { version: v2 } = await engine.deploy({ code: await fixtureBundle('task-failures-v2.ts') });
      // Not inside an activation: its marker is followed by the activity it scheduled.
      await expect(engine.reset('inv', { toEvent: scheduled - 1, version: v2 })).rejects.toThrow(`event ${scheduled - 1} is inside the activation of event ${scheduled - 1}: reset to event ${scheduled - 2}, or to ${scheduled} (its last command)`);
      const reset = await engine.reset('inv', { toEvent: scheduled, version: v2, reason: 'fixed in v2' });
      expect(reset).toMatchObject({ workflowId: 'inv', fromRunId: old.runId, version: v2 });
      // The new run takes the workflow id and carries on: the activity pending at that point runs again.
      const handle = engine.getHandle('inv');
      expect(await handle.result()).toBe('customer paid 5');
      expect(charges).toBe(2);
      const history = await handle.history();
      expect(history[0]).toMatchObject({ type: 'WorkflowStarted', runId: reset.runId, version: v2, resetFrom: { runId: old.runId, eventIndex: scheduled } });
      expect(history.slice(1, scheduled).map((event) => event.type)).toEqual((await old.history()).slice(1, scheduled).map((event) => event.type));
      // The reset run's whole history (the kept prefix, then its own) replays on its version.
      await replayHistory({ code: await fixtureBundle('task-failures-v2.ts') }, history);
      const oldHistory = await old.history();
      expect(oldHistory.at(-1)).toMatchObject({ type: 'WorkflowTerminated', reason: `reset to event ${scheduled}, continued by run ${reset.runId}: fixed in v2` });
    } finally {
      await engine.close();
    }
  });

  it('delivers a job recorded between two activations when the reset point is that job', async () => {
    const engine = await Engine.open({ logger: silentLogger, activities: { charge: async (amount: number) => amount } });
    try {
      await engine.deploy({ code: await fixtureBundle('task-failures-v2.ts') });
      const old = await engine.start('invoice', { args: [7], workflowId: 'inv-job' });
      expect(await old.result()).toBe('customer paid 7');
      const completed = (await old.history()).find((event) => event.type === 'ActivityCompleted')!.eventId;
      const reset = await engine.reset('inv-job', { toEvent: completed });
      // The completion is not run again: the new run's first activation takes it.
      expect(await engine.getHandle('inv-job', reset.runId).result()).toBe('customer paid 7');
      const history = await engine.getHandle('inv-job', reset.runId).history();
      expect(history.filter((event) => event.type === 'ActivityScheduled')).toHaveLength(1);
    } finally {
      await engine.close();
    }
  });

  it('delivers the signals the old run received after the reset point to the new run', async () => {
    const engine = await Engine.open({ logger: silentLogger });
    try {
      await engine.deploy({ code: await fixtureBundle('task-failures-v1.ts') });
      const old = await engine.start('collector', { workflowId: 'col' });
      await old.signal('ping', 'a');
      await old.signal('ping', 'b');
      const history = await old.history();
      const afterA = history.findIndex((event) => event.type === 'SignalReceived') + 2; // its activation's marker
      expect(history[afterA - 1].type).toBe('WorkflowTaskCompleted');
      await engine.reset('col', { toEvent: afterA });
      await engine.getHandle('col').signal('ping', 'stop');
      expect(await engine.getHandle('col').result()).toEqual(['a', 'b', 'stop']);
    } finally {
      await engine.close();
    }
  });

  it('refuses a version whose code does not replay the prefix, and leaves the run as it was', async () => {
    const engine = await Engine.open({ logger: silentLogger, activities: { charge: async (amount: number) => amount }, supervision: { initialBackoffMs: 60_000, maxBackoffMs: 60_000 } });
    try {
      const { version: v1 } = await engine.deploy({ code: await fixtureBundle('task-failures-v1.ts') });
      const old = await engine.start('invoice', { args: [5], workflowId: 'inv3' });
      await expect.poll(async () => (await old.describe()).supervision?.crashes ?? 0).toBe(1);
      const { version: v3 } = await engine.deploy({ code: await fixtureBundle('task-failures-v3.ts') });
      const toEvent = (await old.history()).find((event) => event.type === 'ActivityScheduled')!.eventId;
      await expect(engine.reset('inv3', { toEvent, version: v3 })).rejects.toBeInstanceOf(DeterminismViolationError);
      expect(await old.describe()).toMatchObject({ status: 'Running', version: v1 });
      await old.terminate('test over');
    } finally {
      await engine.close();
    }
  });
});
