/**
 * Replay: a recorded history replays against the code that recorded it; changed code is
 * reported with the event index, what was recorded and what the code produced; a run whose
 * history no longer replays stalls (it is not failed, nothing is lost) and says why.
 */
import { describe, expect, it } from 'vitest';
import { DeterminismViolationError, InvalidArgumentError, PendingActivationFailedError } from '../../engine/errors.js';
import { Engine, type EngineOptions } from '../../engine/engine.js';
import type { HistoryEvent } from '../../engine/history/events.js';
import { replayHistories } from '../../engine/replay-histories.js';
import { replayHistory } from '../../engine/replay-history.js';
import { openMemoryStore } from '../../store/open.js';
import { makeActivities } from '../fixtures/activities.js';
import { fixtureBundle, openEngine, silentLogger } from '../helpers.js';

async function recordedOrder(): Promise<HistoryEvent[]> {
  const engine = await openEngine({ activities: makeActivities() });
  const handle = await engine.start('order', { args: ['book', 2] });
  await handle.result();
  // What `aion history --json` prints and `aion replay` reads: plain JSON.
  return JSON.parse(JSON.stringify(await handle.history())) as HistoryEvent[];
}

describe('replayHistory', () => {
  it('replays a recorded history with the code that recorded it', async () => {
    const history = await recordedOrder();
    await expect(replayHistory({ code: await fixtureBundle() }, history)).resolves.toBeUndefined();
    await expect(replayHistory({ code: await fixtureBundle() }, { events: history })).resolves.toBeUndefined();
  });

  it('replays the histories of every kind of run the engine records', async () => {
    const engine = await openEngine({ activities: makeActivities() });
    const handles = [
      await engine.start('approval'),
      await engine.start('cancellable'),
      await engine.start('retrying', { args: ['replay-k', 1] }),
      await engine.start('scopes'),
      await engine.start('failing', { args: ['x'] }),
    ];
    await handles[0].signal('approve', 'ann');
    await handles[0].executeUpdate('setLimit', 100);
    await handles[1].cancel();
    await Promise.all(handles.map((h) => h.result().catch(() => undefined)));
    const statuses = await Promise.all(handles.map(async (h) => (await h.describe()).status));
    expect(statuses).toEqual(['Completed', 'Canceled', 'Completed', 'Completed', 'Failed']);
    for (const handle of handles) {
      const history = await handle.history();
      expect(history.at(-1)?.type).toMatch(/^Workflow(Completed|Canceled|Failed)$/);
      await expect(replayHistory({ code: await fixtureBundle() }, history)).resolves.toBeUndefined();
    }
  });

  it('reports a changed command order with the event index, the recorded event and the produced command', async () => {
    const history = await recordedOrder();
    const error = (await replayHistory({ code: await fixtureBundle('order-v2.ts') }, history).catch((e: unknown) => e)) as DeterminismViolationError;
    expect(error).toBeInstanceOf(DeterminismViolationError);
    expect(error.eventIndex).toBe(3);
    expect(history[error.eventIndex - 1]).toMatchObject({ type: 'ActivityScheduled', activityType: 'reserve' });
    expect(error.expected).toBe('ActivityScheduled(seq=1, activityType="reserve") (event 3)');
    expect(error.actual).toBe('scheduleActivity → ActivityScheduled(seq=1, activityType="charge")');
  });

  it('reports code that stops producing the recorded commands', async () => {
    const history = await recordedOrder();
    const error = (await replayHistory({ code: await fixtureBundle('order-v3.ts') }, history).catch((e: unknown) => e)) as DeterminismViolationError;
    expect(error).toBeInstanceOf(DeterminismViolationError);
    expect(error.eventIndex).toBe(6);
    expect(error.expected).toMatch(/^ActivityScheduled\(seq=2, activityType="charge"\)/);
    expect(error.actual).toBe('completeWorkflow → WorkflowCompleted');
  });

  it('refuses a malformed history with a clear error', async () => {
    const code = await fixtureBundle();
    await expect(replayHistory({ code }, { nope: true } as never)).rejects.toBeInstanceOf(InvalidArgumentError);
    const history = await recordedOrder();
    await expect(replayHistory({ code }, history.slice(1))).rejects.toThrow(/malformed history at event 1/);
    const gap = [...history.slice(0, 3), ...history.slice(4)];
    await expect(replayHistory({ code }, gap)).rejects.toThrow(/event 4 has eventId 5/);
  });
});

describe('a run whose history no longer replays', () => {
  /**
   * An engine on a store whose reads of one run are corrupted, as if its history had been
   * edited, with no snapshots (the run must be rebuilt by replay).
   */
  async function engineWithTamperedReads(options: Partial<EngineOptions> = {}) {
    const store = await openMemoryStore<HistoryEvent>();
    let tamperedRunId: string | undefined;
    const readHistory = store.readHistory.bind(store);
    store.readHistory = async (namespace, runId, range) => {
      const events = await readHistory(namespace, runId, range);
      if (runId !== tamperedRunId) return events;
      return events.map((e) => (e.type === 'ActivityScheduled' && e.seq === 1 ? { ...e, activityType: 'tampered' } : e));
    };
    store.getSnapshot = async () => undefined;
    const engine = await Engine.open({ store, logger: silentLogger, activities: makeActivities(), maxResidentRuns: 1, ...options });
    await engine.deploy({ code: await fixtureBundle() });
    /** A run whose history reads corrupted from now on, evicted by another and then signalled: its next job replays. */
    const tamperedVictim = async () => {
      const victim = await engine.start('reserveThenApprove', { args: ['book'], workflowId: 'victim' });
      expect(await victim.query('status')).toBe('reserved:book');
      tamperedRunId = victim.runId;
      const evictor = await engine.start('sleeper', { args: [60_000] });
      await victim.signal('approve', 'bob');
      return { victim, evictor };
    };
    return { engine, readHistory, tamperedVictim };
  }

  it('stalls with the violation in describe, keeps accepting signals, and loses nothing', async () => {
    const { engine, readHistory, tamperedVictim } = await engineWithTamperedReads();
    try {
      const { victim, evictor } = await tamperedVictim();
      const description = await victim.describe();
      expect(description.status).toBe('Running');
      expect(description.taskFailure?.message).toMatch(/nondeterminism at event/);
      const history = await readHistory('default', victim.runId!);
      expect(history.filter((e) => e.type === 'SignalReceived')).toMatchObject([{ name: 'approve', args: ['bob'] }]);
      expect(history.at(-1)?.type).toBe('SignalReceived');
      await expect(victim.query('status')).rejects.toBeInstanceOf(DeterminismViolationError);
      await evictor.terminate();
    } finally {
      await engine.close();
    }
  });

  it('fails instead when the engine declares NondeterminismError a failure of its type, keeping what came', async () => {
    const { engine, readHistory, tamperedVictim } = await engineWithTamperedReads({ workflowFailureErrorTypes: { reserveThenApprove: ['NondeterminismError'] } });
    try {
      const { victim, evictor } = await tamperedVictim();
      await expect(victim.result()).rejects.toMatchObject({ status: 'Failed', cause: { type: 'NondeterminismError', message: expect.stringMatching(/nondeterminism at event/) } });
      const types = (await readHistory('default', victim.runId!)).map((e) => e.type);
      expect(types.slice(-3)).toEqual(['SignalReceived', 'WorkflowTaskFailed', 'WorkflowFailed']);
      // Another type keeps the default: its runs would stall.
      expect((await evictor.history())[0]).not.toHaveProperty('failureErrorTypes');
      await evictor.terminate();
    } finally {
      await engine.close();
    }
  });
});

describe('replayHistory for debugging', () => {
  it('emits the workflow’s log lines with a logger, each tagged with its activation’s event', async () => {
    const engine = await openEngine({});
    const handle = await engine.start('logging');
    await handle.result();
    const history = await handle.history();
    const lines: { level: string; message: string; eventIndex: number }[] = [];
    const capture = (level: string) => (attributes: Record<string, unknown>, message: string) => void lines.push({ level, message, eventIndex: attributes.eventIndex as number });
    const logger = { debug: capture('debug'), info: capture('info'), warn: capture('warn'), error: capture('error') } as unknown as EngineOptions['logger'];
    await replayHistory({ code: await fixtureBundle() }, history, { logger });
    const markers = history.filter((event) => event.type === 'WorkflowTaskCompleted').map((event) => event.eventId);
    expect(lines).toEqual([
      { level: 'info', message: 'before sleep', eventIndex: markers[0] },
      { level: 'info', message: 'console works 42', eventIndex: markers[0] },
      { level: 'warn', message: 'after sleep', eventIndex: markers[1] },
    ]);
  });

  it('reproduces the failure of a run’s pending workflow task with includePending', async () => {
    const engine = await Engine.open({ logger: silentLogger, activities: { charge: async (amount: number) => amount }, supervision: { initialBackoffMs: 60_000, maxBackoffMs: 60_000 } });
    try {
      await engine.deploy({ code: await fixtureBundle('task-failures-v1.ts') });
      const handle = await engine.start('invoice', { args: [5] });
      await expect.poll(async () => (await handle.describe()).supervision?.crashes ?? 0).toBe(1);
      const history = await handle.history();
      const code = await fixtureBundle('task-failures-v1.ts');
      // What completed replays; the failed activation's jobs are pending.
      await expect(replayHistory({ code }, history)).resolves.toBeUndefined();
      const error = await replayHistory({ code }, history, { includePending: true }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(PendingActivationFailedError);
      expect((error as Error).message).toMatch(/^the pending jobs fail the workflow task again: TypeError: .*name.* \(at test\/fixtures\/task-failures-v1\.ts:9:\d+\)$/);
      // A debug replay (V8 words the error its own way) names the same line.
      const debugged = await replayHistory({ code }, history, { includePending: true, debug: true }).catch((e: unknown) => e);
      expect((debugged as Error).message).toMatch(/^the pending jobs fail the workflow task again: TypeError: .*name.* \(at test\/fixtures\/task-failures-v1\.ts:9:\d+\)$/);
      // A fixed version takes them.
      await expect(replayHistory({ code: await fixtureBundle('task-failures-v2.ts') }, history, { includePending: true })).resolves.toBeUndefined();
    } finally {
      await engine.close();
    }
  });

  it('reproduces a crash that failed the run (CPU budget) with includePending', async () => {
    const limits = { cpuMsPerActivation: 300 };
    const engine = await openEngine({ limits, supervision: { initialBackoffMs: 1 } }, 'hostile.ts');
    const handle = await engine.start('infiniteLoop');
    await handle.result().catch(() => undefined);
    const history = await handle.history();
    const code = await fixtureBundle('hostile.ts');
    await expect(replayHistory({ code }, history, { limits })).resolves.toBeUndefined();
    await expect(replayHistory({ code }, history, { limits, includePending: true })).rejects.toMatchObject({ name: 'PendingActivationFailedError', crashKind: 'cpu-budget' });
  });
});

describe('replayHistories', () => {
  it('replays many histories on the sandbox threads and groups the divergences by what and where', async () => {
    const engine = await openEngine({ activities: makeActivities() });
    const handles = await Promise.all(['a', 'b', 'c'].map((item) => engine.start('order', { args: [item, 1], workflowId: `order-${item}` })));
    await Promise.all(handles.map((handle) => handle.result()));
    const histories = await Promise.all(handles.map((handle) => handle.history()));

    const same = await replayHistories({ code: await fixtureBundle() }, histories, { threads: 2 });
    expect(same).toMatchObject({ replayed: 3, reproduced: 3, diverged: [], groups: [], failed: [] });

    const changed = await replayHistories({ code: await fixtureBundle('order-v2.ts') }, [...histories, { events: [{ nope: true }] } as never], { threads: 2 });
    expect(changed).toMatchObject({ replayed: 4, reproduced: 0 });
    expect(changed.diverged.map((run) => run.workflowId).sort()).toEqual(['order-a', 'order-b', 'order-c']);
    expect(changed.groups).toHaveLength(1);
    expect(changed.groups[0]).toMatchObject({ kind: 'ActivityScheduled', hint: 'a different activity is called here', recordedAt: expect.stringMatching(/workflows\.ts:\d+$/) });
    expect(changed.groups[0].runs).toHaveLength(3);
    expect(changed.failed).toEqual([{ message: expect.stringMatching(/^malformed history at event 1/) }]);
  });
});
