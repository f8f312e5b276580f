/**
 * Updates by id, as Temporal's client uses them: an update sent again under an id the run
 * accepted runs once, a caller attaches to an update by its id (also after a restart, and
 * once the run closed), and update-with-start starts the workflow when it has no running run.
 */
import { describe, expect, it } from 'vitest';
import { Engine } from '../../engine/engine.js';
import { InvalidArgumentError, WorkflowAlreadyStartedError, WorkflowUpdateFailedError, WorkflowUpdateNotFoundError } from '../../engine/errors.js';
import type { HistoryEvent } from '../../engine/history/events.js';
import { fixtureBundle, openEngine, silentLogger, tempDir } from '../helpers.js';

const BUNDLE = 'updates.ts';

const updateEvents = (history: HistoryEvent[], updateId: string) =>
  history.filter((event) => event.type.startsWith('Update') && (event as { updateId?: string }).updateId === updateId).map((event) => event.type);

describe('updates by id', () => {
  it('runs an update sent twice under one id once, while it runs and after it completed', async () => {
    const engine = await openEngine({}, BUNDLE);
    const handle = await engine.start('counter', { args: [{ gated: true }] });
    const first = await handle.startUpdate('add', { args: [5], updateId: 'u1' });
    const again = await handle.startUpdate('add', { args: [5], updateId: 'u1' });
    expect(again.updateId).toBe('u1');
    await handle.signal('open');
    expect(await first.result()).toBe(5);
    expect(await again.result()).toBe(5);
    // Completed: sending it again (even with other arguments) answers the recorded result.
    expect(await (await handle.startUpdate('add', { args: [100], updateId: 'u1' })).result()).toBe(5);
    expect(await handle.executeUpdate('add', 1)).toBe(6);
    await handle.signal('finish');
    expect(await handle.result()).toBe(6);
    expect(updateEvents(await handle.history(), 'u1')).toEqual(['UpdateAccepted', 'UpdateCompleted']);
  });

  it('attaches to an update by id: waits while it runs, answers once the run closed, refuses an unknown id', async () => {
    const engine = await openEngine({}, BUNDLE);
    const handle = await engine.start('counter', { args: [{ gated: true }], workflowId: 'attach' });
    await handle.startUpdate('add', { args: [3], updateId: 'slow' });
    const attached = engine.getHandle('attach').getUpdateHandle('slow').result();
    await handle.signal('open');
    expect(await attached).toBe(3);
    await expect(handle.startUpdate('add', { args: [-1], updateId: 'refused' })).rejects.toBeInstanceOf(WorkflowUpdateFailedError);
    // A rejected update is not kept: nothing to attach to, as for an id never sent.
    await expect(handle.getUpdateHandle('refused').result()).rejects.toBeInstanceOf(WorkflowUpdateNotFoundError);
    await expect(handle.getUpdateHandle('never').result()).rejects.toThrow(/has no update never/);
    await handle.signal('finish');
    await handle.result();
    expect(await engine.getHandle('attach').getUpdateHandle('slow').result()).toBe(3);
  });

  it('attaches after a restart to an update accepted before it', async () => {
    const dataDir = tempDir();
    const code = await fixtureBundle(BUNDLE);
    const first = await Engine.open({ dataDir, logger: silentLogger });
    await first.deploy({ code });
    const handle = await first.start('counter', { args: [{ gated: true }], workflowId: 'restarted' });
    await handle.startUpdate('add', { args: [4], updateId: 'before' });
    await first.close();
    const second = await Engine.open({ dataDir, logger: silentLogger });
    try {
      const attached = second.getHandle('restarted').getUpdateHandle('before').result();
      await second.getHandle('restarted').signal('open');
      expect(await attached).toBe(4);
    } finally {
      await second.close();
    }
  });

  it('accepts an update whose validator is async, ignoring its promise as Temporal does', async () => {
    const engine = await openEngine({}, BUNDLE);
    const handle = await engine.start('counter');
    expect(await handle.executeUpdate('addChecked', 4)).toBe(4);
    await handle.signal('finish');
    expect(await handle.result()).toBe(4);
  });

  it('answers two sends of one id in the same activation alike: both rejected by the validator', async () => {
    const engine = await openEngine({}, BUNDLE);
    const handle = await engine.start('counter');
    const both = await Promise.allSettled([handle.startUpdate('add', { args: [-1], updateId: 'neg' }), handle.startUpdate('add', { args: [-1], updateId: 'neg' })]);
    expect(both.map((settled) => settled.status)).toEqual(['rejected', 'rejected']);
    for (const settled of both) expect((settled as PromiseRejectedResult).reason).toBeInstanceOf(WorkflowUpdateFailedError);
    await handle.signal('finish');
    expect(updateEvents(await handle.history(), 'neg')).toEqual([]);
  });

  it('refuses an update id that is not a string', async () => {
    const engine = await openEngine({}, BUNDLE);
    const handle = await engine.start('counter');
    await expect(handle.startUpdate('add', { args: [1], updateId: 7 as unknown as string })).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(handle.startUpdate('add', { args: [1], updatId: 'typo' } as never)).rejects.toThrow(/updatId/);
    await handle.signal('finish');
  });
});

describe('update-with-start', () => {
  it('starts the workflow when it has no running run, then delivers the update to its handlers', async () => {
    const engine = await openEngine({}, BUNDLE);
    const { workflow, update } = await engine.startUpdateWithStart('counter', { workflowId: 'uws', update: 'add', updateArgs: [2], updateId: 'first' });
    expect(await update.result()).toBe(2);
    const history = (await workflow.history()).map((event) => event.type);
    expect(history.slice(0, 2)).toEqual(['WorkflowStarted', 'WorkflowTaskCompleted']);
    expect(history).toContain('UpdateAccepted');
    // Running now: the next one goes to the same run.
    expect(await engine.executeUpdateWithStart('counter', { workflowId: 'uws', update: 'add', updateArgs: [3] })).toBe(5);
    expect((await engine.list()).filter((run) => run.workflowId === 'uws')).toHaveLength(1);
    await expect(engine.startUpdateWithStart('counter', { workflowId: 'uws', update: 'add', updateArgs: [1], workflowIdConflictPolicy: 'FAIL' })).rejects.toBeInstanceOf(
      WorkflowAlreadyStartedError,
    );
    await workflow.signal('finish');
    expect(await workflow.result()).toBe(5);
  });

  it('refuses at once, without starting anything, when the running run cannot take updates now', async () => {
    const engine = await openEngine({ supervision: { initialBackoffMs: 60_000, maxBackoffMs: 60_000 } }, 'task-failures-v1.ts');
    const failing = await engine.start('brokenWithQuery', { workflowId: 'failing' });
    await expect.poll(async () => (await failing.describe()).supervision?.crashes ?? 0).toBe(1);
    await expect(engine.startUpdateWithStart('brokenWithQuery', { workflowId: 'failing', update: 'anything' })).rejects.toMatchObject({ name: 'WorkflowNotRunningError', status: 'Running' });
    expect(await engine.list()).toHaveLength(1);
    await failing.terminate('test over');
  });

  it('refuses a policy it does not have and options it does not know', async () => {
    const engine = await openEngine({}, BUNDLE);
    await expect(engine.startUpdateWithStart('counter', { workflowId: 'p', update: 'add', workflowIdConflictPolicy: 'TERMINATE_EXISTING' as never })).rejects.toThrow(
      /workflowIdConflictPolicy is USE_EXISTING or FAIL/,
    );
    await expect(engine.startUpdateWithStart('counter', { workflowId: 'p', update: 'add', signal: 'x' } as never)).rejects.toThrow(/signal/);
    expect(await engine.list()).toHaveLength(0);
  });
});
