/** Supervision of crashing sandboxes: restart with backoff, give-up past the restart intensity, deterministic crashes. */
import { describe, expect, it } from 'vitest';
import type { WorkflowFailedError } from '../../engine/errors.js';
import type { EventOf } from '../../engine/history/events.js';
import { openEngine } from '../helpers.js';

const BUNDLE = 'supervision.ts';
const limits = { cpuMsPerActivation: 50 };

describe('supervision', () => {
  it('restarts a crashed sandbox after a backoff; the run then succeeds', async () => {
    // It crashes while its activation clock is within 500 ms of its start; the restart comes 600 ms later.
    const engine = await openEngine({ limits, supervision: { initialBackoffMs: 600 } }, BUNDLE);
    const handle = await engine.start('crashesUntil', { args: [500] });
    expect(await handle.result()).toBe('recovered');
    const history = await handle.history();
    expect(history.map((e) => e.type)).toEqual(['WorkflowStarted', 'WorkflowTaskFailed', 'WorkflowTaskCompleted', 'WorkflowCompleted']);
    const crash = history[1] as EventOf<'WorkflowTaskFailed'>;
    expect(crash).toMatchObject({ crashKind: 'cpu-budget' });
    expect(crash.restartAt! - crash.time).toBe(600);
    expect(history[2].time).toBeGreaterThanOrEqual(crash.restartAt!);
    const metrics = await engine.metrics.registry.metrics();
    expect(metrics).toMatch(/aion_sandbox_crashes_total\{workflow_type="crashesUntil",kind="cpu-budget"\} 1/);
    expect(metrics).toMatch(/aion_sandbox_restarts_total\{workflow_type="crashesUntil"\} 1/);
  });

  it('backs off exponentially and fails the run past the restart intensity', async () => {
    const engine = await openEngine({ limits, supervision: { initialBackoffMs: 20, maxRestarts: 2, deterministicAfter: 100 } }, BUNDLE);
    const handle = await engine.start('explodesOnSignal');
    await handle.signal('explode');
    const error = (await handle.result().catch((e: unknown) => e)) as WorkflowFailedError;
    expect(error.status).toBe('Failed');
    expect(error.cause.message).toMatch(/restart intensity exceeded: 3 crashes within 60000 ms/);
    const crashes = (await handle.history()).filter((e) => e.type === 'WorkflowTaskFailed') as EventOf<'WorkflowTaskFailed'>[];
    expect(crashes.map((c) => (c.restartAt === undefined ? undefined : c.restartAt - c.time))).toEqual([20, 40, undefined]);
    expect(await engine.metrics.registry.metrics()).toMatch(/aion_runs_failed_by_supervisor_total\{workflow_type="explodesOnSignal"\} 1/);
  });

  it('recognises a deterministic crash and does not retry it forever', async () => {
    const engine = await openEngine({ limits, supervision: { initialBackoffMs: 10, maxRestarts: 1000 } }, BUNDLE);
    const handle = await engine.start('explodesOnSignal');
    await handle.signal('explode');
    const error = (await handle.result().catch((e: unknown) => e)) as WorkflowFailedError;
    expect(error.cause.message).toMatch(/deterministic crash: the same cpu-budget crash 3 times in a row/);
    expect((await handle.history()).filter((e) => e.type === 'WorkflowTaskFailed')).toHaveLength(3);
    // The signal that triggered it was recorded once, and stays recorded.
    expect((await handle.history()).filter((e) => e.type === 'SignalReceived')).toHaveLength(1);
  });

  it('shows a crashing run in describe while it waits for its restart', async () => {
    const engine = await openEngine({ limits, supervision: { initialBackoffMs: 20_000 } }, BUNDLE);
    const handle = await engine.start('explodesOnSignal');
    await handle.signal('explode');
    const description = await handle.describe();
    expect(description.status).toBe('Running');
    expect(description.supervision).toMatchObject({ crashes: 1, lastCrash: { kind: 'cpu-budget' } });
    expect(description.supervision!.restartAt!.getTime() - description.supervision!.lastCrash.at.getTime()).toBe(20_000);
    // Describing it (what it waits on included) changes nothing: no restart before its time.
    for (let i = 0; i < 4; i++) await handle.describe();
    await new Promise((resolve) => setTimeout(resolve, 100)); // a window for a restart that must not come (no event marks an absence)
    expect((await handle.history()).filter((event) => event.type === 'WorkflowTaskFailed')).toHaveLength(1);
    expect((await handle.describe()).supervision).toMatchObject({ crashes: 1 });
    await handle.terminate();
  });

  it('refuses a malformed policy', async () => {
    await expect(openEngine({ supervision: { maxRestarts: -1 } }, BUNDLE)).rejects.toThrow(/supervision.maxRestarts must be a non-negative number/);
  });
});
