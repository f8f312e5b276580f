/** Child workflows: start by type or function, results and failures, depth, parent-close policies, cancellation. */
import { describe, expect, it } from 'vitest';
import { makeActivities } from '../fixtures/activities.js';
import { expectReplays, openEngine } from '../helpers.js';

const BUNDLE = 'semantics.ts';

describe('child workflows', () => {
  it('starts children by function and by type, with derived and chosen ids, and sees results and failures', async () => {
    const engine = await openEngine({ activities: makeActivities() }, BUNDLE);
    const parent = await engine.start('parentOfThree', { workflowId: 'p1' });
    expect(await parent.result()).toEqual({
      a: 'hi a from p1',
      b: 'hi b from p1',
      failure: { name: 'ChildWorkflowFailure', cause: 'ApplicationFailure', message: 'child broke', type: 'ChildBroke' },
      childId: 'p1-b',
    });
    const history = await parent.history();
    const started = history.filter((e) => e.type === 'ChildWorkflowStarted') as { workflowId: string; runId: string; workflowType: string }[];
    expect(started.map((e) => e.workflowType)).toEqual(['childGreeter', 'childGreeter', 'childFails']);
    expect(started[1].workflowId).toBe('p1-b');
    // Record-then-start: each child's run is the one the parent recorded, and links back to it.
    for (const child of started) {
      const description = await engine.getHandle(child.workflowId, child.runId).describe();
      expect(description.parent).toEqual({ workflowId: 'p1', runId: parent.runId });
    }
    expect(history.map((e) => e.type)).toEqual(expect.arrayContaining(['ChildWorkflowCompleted', 'ChildWorkflowFailed']));
    expect(await expectReplays(engine, BUNDLE, ['p1', ...started.map((c) => c.workflowId)])).toBe(4);
  });

  it('nests three levels deep', async () => {
    const engine = await openEngine({}, BUNDLE);
    expect(await (await engine.start('level', { args: [3], workflowId: 'L' })).result()).toBe(3);
    const ids = ['L', 'L/2', 'L/2/1', 'L/2/1/0'];
    expect((await engine.list({ workflowType: 'level' })).map((w) => w.workflowId).sort()).toEqual(ids);
    expect(await expectReplays(engine, BUNDLE, ids)).toBe(4);
  });

  it('applies the parent-close policy: TERMINATE (default), REQUEST_CANCEL, ABANDON', async () => {
    const engine = await openEngine({}, BUNDLE);
    for (const [policy, childId] of [['TERMINATE', 'c-term'], ['REQUEST_CANCEL', 'c-cancel'], ['ABANDON', 'c-abandon']] as const) {
      expect(await (await engine.start('parentWithPolicy', { args: [policy, childId] })).result()).toBe('parent done');
    }
    await expect(engine.getHandle('c-term').result()).rejects.toMatchObject({ status: 'Terminated' });
    expect(await engine.getHandle('c-cancel').result()).toBe('saw cancellation');
    expect((await engine.getHandle('c-abandon').describe()).status).toBe('Running');
    await engine.getHandle('c-abandon').signal('go');
    expect(await engine.getHandle('c-abandon').result()).toBe('released');
  });

  it('cancels a child when its scope is cancelled, and the parent sees how the child ended', async () => {
    const engine = await openEngine({}, BUNDLE);
    const parent = await engine.start('cancelsItsChild', { args: ['scoped-child'] });
    expect(await parent.result()).toBe('saw cancellation');
    expect((await parent.history()).map((e) => e.type)).toContain('ChildWorkflowCancelRequested');
  });

  it('reports a child that cannot start (its id is running) through the child result', async () => {
    const engine = await openEngine({}, BUNDLE);
    await engine.start('waitsForever', { workflowId: 'taken' });
    const parent = await engine.start('awaitsChild', { args: ['taken'] });
    expect(await parent.result()).toMatch(/^child failed: .*workflow taken is already running/);
    const failed = (await parent.history()).find((e) => e.type === 'ChildWorkflowFailed') as { failure: { cause: { message: string } } };
    expect(failed.failure.cause.message).toMatch(/workflow taken is already running/);
  });
});
