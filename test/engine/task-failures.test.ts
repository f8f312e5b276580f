/**
 * Temporal's failure semantics: an error in workflow code that is not a failure fails the
 * workflow task, not the run; the run stays Running and retries until a fixed version is
 * deployed and the run is upgraded to it (only if its history replays there).
 */
import { describe, expect, it } from 'vitest';
import { Engine } from '../../engine/engine.js';
import { DeterminismViolationError, WorkflowUpdateFailedError } from '../../engine/errors.js';
import { replayHistory } from '../../engine/replay-history.js';
import { DEFAULT_SUPERVISION, Supervisor } from '../../engine/supervision.js';
import { fixtureBundle, openEngine, silentLogger } from '../helpers.js';

describe('workflow task failures', () => {
  it('keep a run with a bug Running, retrying, until it is upgraded to a version that fixes it', async () => {
    let charges = 0;
    const engine = await Engine.open({ logger: silentLogger, activities: { charge: async (amount: number) => (charges++, amount) }, supervision: { initialBackoffMs: 5, maxBackoffMs: 20 } });
    try {
      const v1 = (await engine.deploy({ code: await fixtureBundle('task-failures-v1.ts') })).version;
      const handle = await engine.start('invoice', { args: [5], workflowId: 'invoice-1' });
      await expect.poll(async () => (await handle.describe()).supervision?.crashes ?? 0).toBeGreaterThanOrEqual(3);
      const stuck = await handle.describe();
      expect(stuck.status).toBe('Running');
      expect(stuck.supervision?.lastCrash).toMatchObject({ kind: 'workflow-error', message: expect.stringMatching(/^TypeError: .*name/) });
      // Where, in the workflow's source: the line reading the property of undefined (after an await, so without the function's name).
      expect(stuck.supervision?.lastCrash.message).toMatch(/\(at test\/fixtures\/task-failures-v1\.ts:9:\d+\)$/);
      const history = await handle.history();
      expect(history.map((event) => event.type)).not.toContain('WorkflowFailed');
      expect(history.filter((event) => event.type === 'WorkflowTaskFailed').length).toBeGreaterThanOrEqual(3);
      // The activity before the bug ran once: only the failed activation is retried.
      expect(charges).toBe(1);

      // A version whose steps differ is refused, naming the divergence; the run stays where it was.
      const v3 = (await engine.deploy({ code: await fixtureBundle('task-failures-v3.ts') })).version;
      await expect(engine.upgrade(handle.runId!, { version: v3 })).rejects.toThrow(DeterminismViolationError);
      expect((await handle.describe()).version).toBe(v1);

      const v2 = (await engine.deploy({ code: await fixtureBundle('task-failures-v2.ts') })).version;
      expect(await engine.upgrade(handle.runId!)).toEqual({ workflowId: 'invoice-1', runId: handle.runId, fromVersion: v1, toVersion: v2 });
      expect(await handle.result()).toBe('customer paid 5');
      expect((await handle.describe()).version).toBe(v2);
      expect(charges).toBe(1);
      await replayHistory({ code: await fixtureBundle('task-failures-v2.ts') }, await handle.history());
    } finally {
      await engine.close();
    }
  });

  it('fail the run for failures, and for the error types a workflow declares with setWorkflowOptions', async () => {
    const engine = await openEngine({}, 'task-failures-v1.ts');
    const failed = await (await engine.start('business')).result().catch((error: unknown) => error);
    expect(failed).toMatchObject({ status: 'Failed', cause: { type: 'Business' } });
    // The recorded stack names the workflow's own file and line (through the bundle's source map).
    expect((failed as { cause: Error }).cause.stack).toMatch(/^\s*at business \(test\/fixtures\/task-failures-v1\.ts:23:\d+\)\n?$/);
    await expect((await engine.start('strict')).result()).rejects.toMatchObject({ status: 'Failed', cause: { type: 'ValidationError', message: 'declared to fail the run' } });
  });

  it('come from update handlers too: a failure fails the update, a bug the task, a declared error the run', async () => {
    const engine = await openEngine({ supervision: { initialBackoffMs: 5, maxBackoffMs: 20 } }, 'task-failures-v1.ts');
    const handle = await engine.start('updated');
    const refused = await handle.executeUpdate('apply', 'fail').catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(WorkflowUpdateFailedError);
    expect((refused as WorkflowUpdateFailedError).cause).toMatchObject({ type: 'Refused' });
    const bug = await handle.startUpdate('apply', { args: ['bug'] });
    const outcome = bug.result().catch((error: unknown) => error);
    await expect.poll(async () => (await handle.describe()).supervision?.crashes ?? 0).toBeGreaterThanOrEqual(2);
    expect(await handle.describe()).toMatchObject({ status: 'Running', supervision: { lastCrash: { kind: 'workflow-error', message: expect.stringMatching(/^TypeError/) } } });
    expect((await handle.history()).filter((event) => event.type === 'UpdateCompleted')).toHaveLength(1);
    await handle.terminate('test over');
    expect(await outcome).toMatchObject({ cause: { type: 'AcceptedUpdateCompletedWorkflow' } });

    const declared = await engine.start('updated');
    await declared.startUpdate('apply', { args: ['declared'] });
    await expect(declared.result()).rejects.toMatchObject({ status: 'Failed', cause: { type: 'ValidationError', message: 'declared to fail the run' } });
  });

  it('from update handlers keep failing the update in runs started before that rule (their histories replay)', async () => {
    const engine = await openEngine({}, 'task-failures-v1.ts');
    const handle = await engine.start('updated');
    await handle.executeUpdate('apply', 'fail').catch(() => undefined);
    await handle.executeUpdate('apply', 'done');
    await handle.result();
    // The same history as a run without the flag would have recorded for a bug in the handler.
    const history = (await handle.history()).map((event) => {
      if (event.type === 'WorkflowStarted') return { ...event, flags: event.flags?.filter((flag) => flag !== 'updateHandlerErrors') };
      if (event.type === 'UpdateAccepted' && event.args[0] === 'fail') return { ...event, args: ['bug'] };
      return event;
    });
    const code = await fixtureBundle('task-failures-v1.ts');
    await replayHistory({ code }, history);
    const withFlag = history.map((event) => (event.type === 'WorkflowStarted' ? { ...event, flags: [...(event.flags ?? []), 'updateHandlerErrors' as const] } : event));
    await expect(replayHistory({ code }, withFlag)).rejects.toThrow();
  });

  it('fail the run for the error types the engine declares for the workflow type, or for every type', async () => {
    const engine = await openEngine({ activities: { charge: async (amount: number) => amount }, workflowFailureErrorTypes: { invoice: ['TypeError'], '*': ['RangeError'] } }, 'task-failures-v1.ts');
    await expect((await engine.start('invoice', { args: [3] })).result()).rejects.toMatchObject({ status: 'Failed', cause: { type: 'TypeError' } });
    const started = (await (await engine.start('brokenWithQuery')).history())[0];
    expect(started).toMatchObject({ type: 'WorkflowStarted', failureErrorTypes: ['RangeError'] });
    await expect(Engine.open({ workflowFailureErrorTypes: { invoice: 'TypeError' } as never })).rejects.toThrow(/workflowFailureErrorTypes maps workflow types/);
  });

  it('are matched by class name as failures are typed, even when the class does not set its name', async () => {
    const engine = await openEngine({}, 'task-failures-v1.ts');
    await expect((await engine.start('byName')).result()).rejects.toMatchObject({ status: 'Failed', cause: { type: 'RefusedOrder' } });
  });

  it('are retried at the backoff, not at every query or signal meanwhile', async () => {
    const engine = await openEngine({ supervision: { initialBackoffMs: 60_000, maxBackoffMs: 60_000 } }, 'task-failures-v1.ts');
    const handle = await engine.start('brokenWithQuery');
    const failures = async () => (await handle.history()).filter((event) => event.type === 'WorkflowTaskFailed').length;
    await expect.poll(failures).toBe(1);
    for (let i = 0; i < 5; i++) await handle.query('__temporal_workflow_metadata').catch(() => undefined);
    await handle.signal('ping', 'during the backoff');
    expect(await failures()).toBe(1);
    // The signal is recorded meanwhile, for the retry to deliver.
    expect((await handle.history()).at(-1)).toMatchObject({ type: 'SignalReceived' });
    await handle.terminate('test over');
  });

  it('are retried at once after an upgrade, not at the failed task’s backoff; a repeated cancellation is recorded once meanwhile', async () => {
    const engine = await Engine.open({ logger: silentLogger, activities: { charge: async (amount: number) => amount }, supervision: { initialBackoffMs: 60_000, maxBackoffMs: 60_000 } });
    try {
      await engine.deploy({ code: await fixtureBundle('task-failures-v1.ts') });
      const handle = await engine.start('invoice', { args: [7], workflowId: 'invoice-backoff' });
      await expect.poll(async () => (await handle.describe()).supervision?.crashes ?? 0).toBe(1);
      const { version } = await engine.deploy({ code: await fixtureBundle('task-failures-v2.ts') });
      await engine.upgrade(handle.runId!, { version });
      // Within the test's timeout, far shorter than the 60 s backoff.
      expect(await handle.result()).toBe('customer paid 7');

      const broken = await engine.start('brokenWithQuery', { workflowId: 'cancelled-twice' });
      await expect.poll(async () => (await broken.describe()).supervision?.crashes ?? 0).toBe(1);
      await broken.cancel();
      await broken.cancel();
      expect((await broken.history()).filter((event) => event.type === 'CancelRequested')).toHaveLength(1);
      await broken.terminate('test over');
    } finally {
      await engine.close();
    }
  });

  it('make a history not replay on code whose task fails where the history completed (so upgrade refuses it)', async () => {
    const engine = await openEngine({}, 'task-failures-v1.ts');
    const handle = await engine.start('collector');
    await handle.signal('ping', 'a');
    await expect.poll(async () => (await handle.history()).filter((event) => event.type === 'WorkflowTaskCompleted').length).toBe(2);
    const v2 = await fixtureBundle('task-failures-v2.ts');
    await expect(replayHistory({ code: v2 }, await handle.history())).rejects.toThrow(/the workflow task failed: TypeError/);
    const { version } = await engine.deploy({ code: v2 });
    await expect(engine.upgrade(handle.runId!, { version })).rejects.toThrow(DeterminismViolationError);
    await handle.signal('ping', 'stop');
    expect(await handle.result()).toEqual(['a', 'stop']);
  });

  it('refuse to upgrade a run that is not running, or to a version that does not export its type', async () => {
    const engine = await openEngine({}, 'task-failures-v1.ts');
    const closed = await engine.start('business');
    await closed.result().catch(() => undefined);
    await expect(engine.upgrade(closed.runId!)).rejects.toThrow(/not running|is Failed/);
    const other = (await engine.deploy({ code: await fixtureBundle('workflows.ts') })).version;
    const running = await engine.start('invoice', { args: [1] });
    await expect(engine.upgrade(running.runId!, { version: other })).rejects.toThrow(`bundle version ${other} does not export a workflow named 'invoice'`);
    await expect(engine.upgrade(running.runId!, { version: 'no-such-version' })).rejects.toThrow('bundle version no-such-version is not deployed');
    await running.terminate('test over');
  });

  it('do not count toward the supervisor’s limits for crashes of the sandbox', () => {
    const supervisor = new Supervisor('invoice', DEFAULT_SUPERVISION);
    const taskFailures = [0, 100, 300, 700, 1500].map((time) => ({ time, kind: 'workflow-error', message: 'TypeError: a bug' }));
    expect(supervisor.decide(taskFailures, { time: 1600, kind: 'memory-limit', message: 'out of memory' })).toMatchObject({ restart: true });
    expect(supervisor.decide(taskFailures, { time: 1600, kind: 'workflow-error', message: 'TypeError: a bug' })).toMatchObject({ restart: true });
  });
});
