/** Continue-as-new: chains, handles that follow them, children that continue, the suggestion. */
import { describe, expect, it } from 'vitest';
import { Engine } from '../../engine/engine.js';
import { expectReplays, fixtureBundle, openEngine, silentLogger, tempDir } from '../helpers.js';

const BUNDLE = 'semantics.ts';

describe('continue-as-new', () => {
  it('starts successors under the same id with fresh histories; result() follows to the last run', async () => {
    const engine = await openEngine({}, BUNDLE);
    const first = await engine.start('counter', { args: [0, 3], workflowId: 'count' });
    expect(await first.result()).toEqual({ n: 3, continued: true });
    const runs = await engine.list({ workflowType: 'counter' });
    expect(runs.map((r) => r.status)).toEqual(['Completed', 'ContinuedAsNew', 'ContinuedAsNew', 'ContinuedAsNew']);
    const original = await engine.getHandle('count', first.runId).describe();
    expect(original.status).toBe('ContinuedAsNew');
    // Without following runs, a run's own end: it continued as new.
    await expect(engine.getHandle('count', first.runId, { followRuns: false }).result()).rejects.toMatchObject({ status: 'ContinuedAsNew', cause: { type: 'ContinuedAsNew' } });
    expect(await engine.getHandle('count', first.runId).result()).toEqual({ n: 3, continued: true });
    expect(original.continuedToRunId).toBe(runs[2].runId);
    const last = await engine.getHandle('count').describe();
    expect(last).toMatchObject({ runId: runs[0].runId, status: 'Completed', firstExecutionRunId: first.runId });
    expect(last.historyLength).toBeLessThan(10);
    expect((await engine.getHandle('count', runs[0].runId).history())[0]).toMatchObject({ type: 'WorkflowStarted', args: [3, 3, 1], continuedFromRunId: runs[1].runId });
    expect(await expectReplays(engine, BUNDLE, ['count'])).toBe(4);
  });

  it('lets a child continue as new; the parent gets the result of the last run', async () => {
    const engine = await openEngine({}, BUNDLE);
    expect(await (await engine.start('parentOfChain', { workflowId: 'pc' })).result()).toEqual({ n: 3, continued: true });
    expect(await expectReplays(engine, BUNDLE, ['pc', 'pc-chain'])).toBe(5);
  });

  it('suggests continuing as new once the history is long', async () => {
    const engine = await openEngine({ commandLimits: { continueAsNewSuggestedAt: 20 } }, BUNDLE);
    const result = (await (await engine.start('suggestsContinueAsNew')).result()) as { steps: number; historyLength: number };
    // Each step adds three events (TimerFired, WorkflowTaskCompleted, TimerStarted): it stops at the first activation past 20.
    expect(result.historyLength).toBeGreaterThanOrEqual(20);
    expect(result.historyLength).toBeLessThan(23);
    expect(result.steps).toBeGreaterThan(4);
  });
});

describe('workflow timeouts', () => {
  it('ends a run TimedOut when its run timeout passes', async () => {
    const engine = await openEngine({}, BUNDLE);
    const handle = await engine.start('patient', { args: [60_000], workflowRunTimeout: 50 });
    await expect(handle.result()).rejects.toMatchObject({ status: 'TimedOut', cause: { timeoutType: 'WORKFLOW_RUN' } });
    expect((await handle.describe()).status).toBe('TimedOut');
    expect((await handle.history()).at(-1)).toMatchObject({ type: 'WorkflowTimedOut', timeoutType: 'WORKFLOW_RUN' });
  });

  it('ends a continue-as-new chain TimedOut when its execution timeout passes', async () => {
    const engine = await openEngine({}, BUNDLE);
    const handle = await engine.start('counter', { args: [0, 1_000, 20], workflowId: 'long-chain', workflowExecutionTimeout: 150 });
    await expect(handle.result()).rejects.toMatchObject({ status: 'TimedOut', cause: { timeoutType: 'WORKFLOW_EXECUTION' } });
    const runs = await engine.list({ workflowType: 'counter' });
    expect(runs.length).toBeGreaterThan(1);
    expect(runs[0].status).toBe('TimedOut');
  });

  it('times a run out after a restart when its deadline passed while the engine was down', async () => {
    const dataDir = tempDir();
    const first = await Engine.open({ dataDir, logger: silentLogger });
    await first.deploy({ code: await fixtureBundle(BUNDLE) });
    const started = await first.start('patient', { args: [60_000], workflowId: 'deadline', workflowRunTimeout: 300 });
    const deadline = (await started.history())[0] as { deadline?: { at: number } };
    await first.close();
    // The engine is down while the deadline passes.
    await new Promise((resolve) => setTimeout(resolve, deadline.deadline!.at - Date.now() + 50));
    const second = await Engine.open({ dataDir, logger: silentLogger });
    try {
      await expect(second.getHandle('deadline').result()).rejects.toMatchObject({ status: 'TimedOut' });
    } finally {
      await second.close();
    }
  });

  it('refuses a malformed timeout', async () => {
    const engine = await openEngine({}, BUNDLE);
    await expect(engine.start('patient', { args: [1], workflowRunTimeout: 'soon' })).rejects.toThrow(/workflowRunTimeout: invalid duration "soon"/);
  });
});
