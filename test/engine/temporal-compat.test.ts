/**
 * Temporal's workflow API as Temporal code uses it (test/fixtures/temporal-compat.ts imports
 * only `@temporalio/workflow` and `@temporalio/common`). Every history is replayed after each
 * test (test/helpers.ts).
 */
import { describe, expect, it } from 'vitest';
import { Context } from '../../engine/activities/context.js';
import { ApplicationFailure } from '../../common/failures.js';
import { bundleWorkflowCode, BundleError } from '../../engine/bundler.js';
import { InvalidArgumentError } from '../../engine/errors.js';
import type { HistoryEvent } from '../../engine/history/events.js';
import { Engine } from '../../engine/engine.js';
import { openMemoryStore } from '../../store/open.js';
import { fixture, fixtureBundle, openEngine, silentLogger, tempDir, withTestStore } from '../helpers.js';

const BUNDLE = 'temporal-compat.ts';

/**
 * An activity the test releases, which reports whether its attempt was asked to cancel. On
 * the request it ignores it (and may heartbeat once more, late), or stops.
 */
function gatedActivity(onCancel: 'ignore' | 'heartbeat late' | 'throw') {
  let release!: (value: string) => void;
  const released = new Promise<string>((resolve) => (release = resolve));
  let started!: () => void;
  const startedPromise = new Promise<void>((resolve) => (started = resolve));
  let ended!: () => void;
  const endedPromise = new Promise<void>((resolve) => (ended = resolve));
  let abortSeen = false;
  let details: unknown;
  const slow = async () => {
    const context = Context.current();
    started();
    context.cancellationSignal.addEventListener('abort', () => {
      abortSeen = true;
      details = context.cancellationDetails;
      if (onCancel === 'heartbeat late') context.heartbeat('after the cancellation');
    });
    try {
      return await (onCancel === 'throw' ? Promise.race([released, context.cancelled]) : released);
    } finally {
      ended();
    }
  };
  return { slow, release, started: startedPromise, ended: endedPromise, abortSeen: () => abortSeen, details: () => details };
}

const types = (history: HistoryEvent[]) => history.map((event) => event.type);

describe('Temporal workflow API', () => {
  describe('activity cancellation types', () => {
    it('TRY_CANCEL asks the activity to cancel and rejects at once', async () => {
      const gate = gatedActivity('ignore');
      const engine = await openEngine({ activities: { slow: gate.slow } }, BUNDLE);
      const handle = await engine.start('activityCancellation', { args: ['TRY_CANCEL'] });
      await gate.started;
      await handle.signal('cancelNow');
      await expect.poll(() => handle.query('outcome')).toBe('cancelled: Activity cancelled');
      expect(gate.abortSeen()).toBe(true);
      // Why, as Temporal's cancellationDetails() says it.
      expect(gate.details()).toMatchObject({ cancelRequested: true, timedOut: false, workerShutdown: false });
      // What the activity does afterwards is not recorded: it returns before the run ends.
      gate.release('too late');
      await gate.ended;
      await handle.signal('finish');
      expect(await handle.result()).toBe('cancelled: Activity cancelled');
      const history = await handle.history();
      expect(history.find((event) => event.type === 'ActivityCancelRequested')).not.toHaveProperty('waitForCompletion');
      expect(types(history)).not.toContain('ActivityCompleted');
    });

    it('TRY_CANCEL: a heartbeat after the cancellation does not bring the activity back after a restart', async () => {
      const dataDir = tempDir();
      const gate = gatedActivity('heartbeat late');
      const engine = await Engine.open(withTestStore({ dataDir, logger: silentLogger, activities: { slow: gate.slow } }));
      await engine.deploy({ code: await fixtureBundle(BUNDLE) });
      const handle = await engine.start('activityCancellation', { args: ['TRY_CANCEL'], workflowId: 'late-heartbeat' });
      await gate.started;
      await handle.signal('cancelNow');
      await handle.signal('finish');
      await handle.result();
      await engine.close();
      let runsAgain = 0;
      await openEngine({ dataDir, activities: { slow: async () => void runsAgain++ } }, BUNDLE);
      expect(runsAgain).toBe(0);
    });

    it('WAIT_CANCELLATION_COMPLETED on an activity cancelled in the activation that scheduled it: it never runs', async () => {
      let runs = 0;
      const engine = await openEngine({ activities: { slow: async () => void runs++ } }, BUNDLE);
      const handle = await engine.start('cancelledAtOnce', { args: ['WAIT_CANCELLATION_COMPLETED'] });
      expect(await handle.result()).toBe('cancelled');
      expect(runs).toBe(0);
      expect((await handle.history()).find((event) => event.type === 'ActivityFailed')).toMatchObject({ failure: { cause: { failureType: 'CancelledFailure' } } });
    });

    it('WAIT_CANCELLATION_COMPLETED asks, then waits for the activity to end: its result if it finishes anyway', async () => {
      const gate = gatedActivity('ignore');
      const engine = await openEngine({ activities: { slow: gate.slow } }, BUNDLE);
      const handle = await engine.start('activityCancellation', { args: ['WAIT_CANCELLATION_COMPLETED'] });
      await gate.started;
      await handle.signal('cancelNow');
      await expect.poll(() => gate.abortSeen()).toBe(true);
      expect(await handle.query('outcome')).toBeUndefined();
      gate.release('finished anyway');
      await expect.poll(() => handle.query('outcome')).toBe('completed: finished anyway');
      await handle.signal('finish');
      await handle.result();
      const history = await handle.history();
      expect(history.find((event) => event.type === 'ActivityCancelRequested')).toMatchObject({ waitForCompletion: true });
      expect(types(history).indexOf('ActivityCompleted')).toBeGreaterThan(types(history).indexOf('ActivityCancelRequested'));
    });

    it('WAIT_CANCELLATION_COMPLETED: an activity that honours the request ends the wait cancelled, and is not retried', async () => {
      const gate = gatedActivity('throw');
      const engine = await openEngine({ activities: { slow: gate.slow } }, BUNDLE);
      const handle = await engine.start('activityCancellation', { args: ['WAIT_CANCELLATION_COMPLETED'] });
      await gate.started;
      await handle.signal('cancelNow');
      await expect.poll(() => handle.query('outcome')).toBe('cancelled: Activity cancelled');
      await handle.signal('finish');
      await handle.result();
      const failed = (await handle.history()).find((event) => event.type === 'ActivityFailed');
      expect(failed).toMatchObject({ attempt: 1, failure: { failureType: 'ActivityFailure', cause: { failureType: 'CancelledFailure' } } });
    });

    it('WAIT_CANCELLATION_COMPLETED across a restart: the task keeps the request and is not run again', async () => {
      const dataDir = tempDir();
      const first = gatedActivity('ignore');
      const engine = await Engine.open(withTestStore({ dataDir, logger: silentLogger, activities: { slow: first.slow } }));
      await engine.deploy({ code: await fixtureBundle(BUNDLE) });
      const handle = await engine.start('activityCancellation', { args: ['WAIT_CANCELLATION_COMPLETED'], workflowId: 'wait-restart' });
      await first.started;
      await handle.signal('cancelNow');
      await expect.poll(() => first.abortSeen()).toBe(true);
      await engine.close();
      let runsAgain = 0;
      const reopened = await openEngine({ dataDir, activities: { slow: async () => void runsAgain++ } }, BUNDLE);
      const again = reopened.getHandle('wait-restart');
      await expect.poll(() => again.query('outcome')).toBe('cancelled: Activity cancelled');
      expect(runsAgain).toBe(0);
      await again.signal('finish');
      await again.result();
    });

    it('ABANDON rejects at once without asking; the activity runs on and its result is dropped', async () => {
      const gate = gatedActivity('ignore');
      const engine = await openEngine({ activities: { slow: gate.slow } }, BUNDLE);
      const handle = await engine.start('activityCancellation', { args: ['ABANDON'] });
      await gate.started;
      await handle.signal('cancelNow');
      await expect.poll(() => handle.query('outcome')).toBe('cancelled: Activity cancelled');
      expect(gate.abortSeen()).toBe(false);
      gate.release('nobody waits for this');
      await expect.poll(async () => types(await handle.history())).toContain('ActivityCompleted');
      await handle.signal('finish');
      expect(await handle.result()).toBe('cancelled: Activity cancelled');
      expect(types(await handle.history())).not.toContain('ActivityCancelRequested');
    });
  });

  describe('child cancellation types', () => {
    it('WAIT_CANCELLATION_COMPLETED (the default) waits for the child to close', async () => {
      const engine = await openEngine({}, BUNDLE);
      const parent = await engine.start('childCancellation', { args: ['WAIT_CANCELLATION_COMPLETED', 'child-wait'] });
      expect(await parent.result()).toBe('ChildWorkflowFailure: Workflow cancelled');
      expect((await engine.getHandle('child-wait').describe()).status).toBe('Canceled');
      // The parent heard of the end only after the child closed.
      expect(types(await parent.history())).toContain('ChildWorkflowFailed');
    });

    it('TRY_CANCEL asks the child and rejects at once', async () => {
      const engine = await openEngine({}, BUNDLE);
      const parent = await engine.start('childCancellation', { args: ['TRY_CANCEL', 'child-try'] });
      expect(await parent.result()).toBe('ChildWorkflowFailure: Cancellation scope cancelled');
      await expect(engine.getHandle('child-try').result()).rejects.toMatchObject({ status: 'Canceled' });
      expect(types(await parent.history())).toContain('ChildWorkflowCancelRequested');
    });

    it('ABANDON rejects at once and leaves the child running', async () => {
      const engine = await openEngine({}, BUNDLE);
      const parent = await engine.start('childCancellation', { args: ['ABANDON', 'child-abandoned'] });
      expect(await parent.result()).toBe('ChildWorkflowFailure: Cancellation scope cancelled');
      expect((await engine.getHandle('child-abandoned').describe()).status).toBe('Running');
      expect(types(await parent.history())).not.toContain('ChildWorkflowCancelRequested');
      await engine.getHandle('child-abandoned').terminate('test over');
    });
  });

  it('delivers messages without a handler of their own to the default handlers, with currentUpdateInfo in updates', async () => {
    const engine = await openEngine({}, BUNDLE);
    const handle = await engine.start('defaultHandlers');
    await handle.signal('early', 1, 2);
    await handle.signal('record', 'x');
    expect(await handle.query('anything', 'a')).toBe('query anything(a) after 2 signals');
    const updateId = await handle.executeUpdate('bump', 7);
    expect(typeof updateId).toBe('string');
    await handle.signal('done');
    expect(await handle.result()).toEqual(['early(1,2)', 'record x', 'update bump/bump(7)', 'done()']);
  });

  it('ends after its update handlers when it awaits allHandlersFinished', async () => {
    const engine = await openEngine({}, BUNDLE);
    const handle = await engine.start('waitsForHandlers');
    expect(await handle.executeUpdate('slowUpdate', 20)).toBe('slept 20 in slowUpdate');
    expect(await handle.result()).toBe('handlers finished: true');
    const history = types(await handle.history());
    expect(history.indexOf('UpdateCompleted')).toBeLessThan(history.indexOf('WorkflowCompleted'));
  });

  it('resolves a Trigger from a signal and rejects one whose scope is cancelled', async () => {
    const engine = await openEngine({}, BUNDLE);
    const handle = await engine.start('triggers');
    await handle.signal('release', 'from a signal');
    expect(await handle.result()).toEqual(['from a signal', 'timeout cancelled the trigger']);
  });

  it('carries memo from the start through upserts and continue-as-new; workflowInfo has Temporal’s fields', async () => {
    const engine = await openEngine({}, BUNDLE);
    const handle = await engine.start('infoAndMemo', { args: [0], workflowId: 'memo-1', memo: { customer: 'ann', removed: true } });
    const first = await engine.getHandle('memo-1', handle.runId).describe();
    const result = (await engine.getHandle('memo-1').result()) as Record<string, Record<string, unknown>>;
    expect(result.before).toMatchObject({ memo: { customer: 'ann', step: 'upserted' }, attempt: 1 });
    expect(result.before.historySize).toBeGreaterThan(0);
    expect(result.after).toEqual({ memo: { customer: 'ann', step: 'upserted' }, historySizeGrew: true, details: 'generation 1' });
    expect(result.continuedFrom).toBe(handle.runId);
    // startTime is the chain's; runStartTime this run's.
    expect(result.startTime).toBe(first.startTime.getTime());
    expect(result.runStartTime).toBeGreaterThanOrEqual(result.startTime as unknown as number);
    expect(result.inWorkflowContext).toBe(true);
    expect((await engine.getHandle('memo-1').describe()).memo).toEqual({ customer: 'ann', step: 'upserted' });
    expect(types(await engine.getHandle('memo-1', handle.runId).history())).toContain('MemoUpserted');
  });

  it('answers the metadata query with the handlers and the current details', async () => {
    const engine = await openEngine({}, BUNDLE);
    const handle = await engine.start('activityCancellation', { args: ['TRY_CANCEL'] });
    expect(await handle.query('__temporal_workflow_metadata')).toEqual({
      definition: {
        type: 'activityCancellation',
        queryDefinitions: [{ name: 'outcome' }],
        signalDefinitions: [{ name: 'cancelNow' }, { name: 'finish' }],
        updateDefinitions: [],
      },
      currentDetails: '',
    });
    await handle.terminate('test over');
  });

  it('takes search attributes in Temporal’s legacy array and typed shapes, at start and in upserts', async () => {
    const engine = await openEngine({}, BUNDLE);
    const handle = await engine.start('searchAttributeShapes', { searchAttributes: { CustomTextField: 'started', CustomDoubleField: [1.5] }, typedSearchAttributes: [] });
    expect(await handle.result()).toEqual({
      // A one-element list of strings stays a keyword list; of anything else it is that value.
      plain: { CustomTextField: 'started', CustomDoubleField: 1.5, CustomKeywordField: ['legacy'], CustomIntField: 2, Amount: 42, PlacedAt: '1970-01-01T00:00:00.000Z' },
      amount: 42,
      placedAt: '1970-01-01T00:00:00.000Z',
    });
    expect((await engine.list({ searchAttributes: { Amount: { gt: 40 }, CustomKeywordField: { contains: 'legacy' } } })).map((run) => run.runId)).toEqual([handle.runId]);
  });

  it('gives each run of a chain of children its root', async () => {
    const engine = await openEngine({}, BUNDLE);
    const handle = await engine.start('rootOfChain', { args: [2], workflowId: 'top' });
    expect(await handle.result()).toEqual({ root: { workflowId: 'top', runId: handle.runId }, parent: 'top/1' });
  });

  it('runs local activities in the engine, recorded as activities marked local', async () => {
    const engine = await openEngine({ activities: { double: async (n: number) => n * 2 } }, BUNDLE);
    const handle = await engine.start('localActivity', { args: [21] });
    expect(await handle.result()).toBe(42);
    expect((await handle.history()).find((event) => event.type === 'ActivityScheduled')).toMatchObject({ activityType: 'double', options: { local: true } });
  });

  it('gives the root cause of an activity failure', async () => {
    const engine = await openEngine({ activities: { fails: async (message: string) => Promise.reject(ApplicationFailure.create({ message })) } }, BUNDLE);
    expect(await (await engine.start('rootCauseOfFailure')).result()).toBe('the innermost message');
  });

  describe('external workflows', () => {
    it('signals another workflow exactly once, recorded on both sides, and fails for one that is not running', async () => {
      const engine = await openEngine({}, BUNDLE);
      const receiver = await engine.start('pingReceiver', { workflowId: 'receiver' });
      const sender = await engine.start('pingSender', { args: ['receiver'] });
      expect(await sender.result()).toBe('ApplicationFailure: ExternalWorkflowExecutionNotFound');
      expect(await receiver.result()).toEqual(['one', 'stop']);
      const sent = types(await sender.history());
      expect(sent.filter((type) => type === 'SignalExternalWorkflowInitiated')).toHaveLength(3);
      expect(sent.filter((type) => type === 'ExternalWorkflowSignaled')).toHaveLength(2);
      expect(sent.filter((type) => type === 'SignalExternalWorkflowFailed')).toHaveLength(1);
      expect(types(await receiver.history()).filter((type) => type === 'SignalReceived')).toHaveLength(2);
    });

    it('asks another workflow to cancel', async () => {
      const engine = await openEngine({}, BUNDLE);
      const receiver = await engine.start('stubbornReceiver', { workflowId: 'to-cancel' });
      expect(await (await engine.start('cancelSender', { args: ['to-cancel'] })).result()).toBe('cancellation requested');
      expect(await receiver.result()).toEqual(['stop', 'was asked to cancel']);
      expect((await receiver.history()).filter((event) => event.type === 'CancelRequested')).toHaveLength(1);
    });

    it('delivers a signal once when a recovery sweep lists the outbox while the signal is being delivered', async () => {
      const store = await openMemoryStore<HistoryEvent>();
      const engine = await Engine.open({ store, logger: silentLogger });
      try {
        await engine.deploy({ code: await fixtureBundle(BUNDLE) });
        const receiver = await engine.start('pingReceiver', { workflowId: 'once' });
        // A sweep (as when the store is back after an outage) that reads the outbox before the delivery and acts after it.
        const listOutbox = store.listOutbox.bind(store);
        let listed!: () => void;
        const sweepListed = new Promise<void>((resolve) => (listed = resolve));
        let release!: () => void;
        const released = new Promise<void>((resolve) => (release = resolve));
        let sweeping = false;
        store.listOutbox = async () => {
          const entries = await listOutbox();
          if (sweeping) {
            listed();
            await released;
          }
          return entries;
        };
        const write = store.write.bind(store);
        store.write = async (batch, options) => {
          await write(batch, options);
          if (!sweeping && batch.outbox?.put?.some((entry) => (entry.effect as { kind: string }).kind === 'signalExternal')) {
            sweeping = true;
            store.events.emit('availability', { available: true });
          }
        };
        const sender = await engine.start('signalsOnce', { args: ['once'] });
        await sweepListed;
        await expect.poll(async () => types(await receiver.history())).toContain('SignalReceived');
        expect(await sender.result()).toBe('sent');
        release();
        await expect.poll(() => listOutbox()).toEqual([]);
        await receiver.signal('ping', 'stop');
        expect(await receiver.result()).toEqual(['once', 'stop']);
      } finally {
        await engine.close();
      }
    });

    it('signals through a child’s handle only that child, not a run that holds its id', async () => {
      const engine = await openEngine({}, BUNDLE);
      const bystander = await engine.start('pingReceiver', { workflowId: 'taken' });
      expect(await (await engine.start('signalsChildWhoseIdIsTaken', { args: ['taken'] })).result()).toBe('ExternalWorkflowExecutionNotFound');
      expect(types(await bystander.history())).not.toContain('SignalReceived');
      await bystander.terminate('test over');
    });

    it('signals through a child’s handle only the child of this run, not one an earlier run of the chain started', async () => {
      const engine = await openEngine({}, BUNDLE);
      const parent = await engine.start('signalsAfterContinueAsNew', { args: [1], workflowId: 'chain' });
      expect(await engine.getHandle('chain').result()).toBe('ExternalWorkflowExecutionNotFound');
      expect(types(await engine.getHandle('chain-c').history())).not.toContain('SignalReceived');
      expect(parent.runId).toBeDefined();
      await engine.getHandle('chain-c').terminate('test over');
    });

    it('signals a child through its handle', async () => {
      const engine = await openEngine({}, BUNDLE);
      expect(await (await engine.start('signalsItsChild', { workflowId: 'parent' })).result()).toEqual(['from the parent', 'stop']);
    });
  });

  describe('options', () => {
    it('refuses an unknown start option by name instead of ignoring it', async () => {
      const engine = await openEngine({}, BUNDLE);
      await expect(engine.start('triggers', { startDelay: '1 minute' } as never)).rejects.toThrow(InvalidArgumentError);
      await expect(engine.start('triggers', { startDelay: '1 minute' } as never)).rejects.toThrow(/no option 'startDelay'/);
      await expect(engine.start('triggers', { cronSchedule: 'every tuesday' })).rejects.toThrow(/invalid schedule spec/);
      expect(await engine.list()).toEqual([]);
    });

    it('fails the workflow task of code that passes an unknown activity option, naming it', async () => {
      const engine = await openEngine({}, BUNDLE);
      const handle = await engine.start('unknownActivityOption');
      await expect.poll(async () => (await handle.describe()).supervision?.lastCrash.message).toContain("no option 'activityId'");
      expect((await handle.describe()).status).toBe('Running');
      await handle.terminate('test over');
    });
  });

  describe('bundling', () => {
    it('refuses an import of a Temporal API this engine does not have, naming it', async () => {
      await expect(bundleWorkflowCode({ workflowsPath: fixture('temporal-unsupported.ts') })).rejects.toThrow(BundleError);
      await expect(bundleWorkflowCode({ workflowsPath: fixture('temporal-unsupported.ts') })).rejects.toThrow(/'proxySinks' imported from '@temporalio\/workflow' is not supported: sinks are not supported/);
    });

    it('refuses a missing name used through a namespace import, and Temporal packages that have no place in a workflow', async () => {
      await expect(bundleWorkflowCode({ workflowsPath: fixture('temporal-namespace-import.ts') })).rejects.toThrow(/'createNexusClient' imported from '@temporalio\/workflow' is not supported: Nexus operations are not supported/);
      await expect(bundleWorkflowCode({ workflowsPath: fixture('temporal-client-import.ts') })).rejects.toThrow(/workflow code cannot import '@temporalio\/client'/);
    });

    it('refuses Temporal workflow interceptors rather than ignore them: at build time in any module, at deploy in the entry', async () => {
      await expect(bundleWorkflowCode({ workflowsPath: fixture('temporal-interceptors.ts') })).rejects.toThrow(
        /'interceptors' exported by .*temporal-interceptors-module\.ts: Temporal's workflow interceptors are not supported/,
      );
      // A bundle built elsewhere that exports them from its entry.
      const engine = await Engine.open({ logger: silentLogger });
      try {
        const code = "exports.interceptors = () => ({ inbound: [] });\nexports.intercepted = async () => 'ran';\n";
        await expect(engine.deploy({ code })).rejects.toThrow(/exports 'interceptors', Temporal's workflow interceptors, which are not supported/);
      } finally {
        await engine.close();
      }
    });
  });
});
