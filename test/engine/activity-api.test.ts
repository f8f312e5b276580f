/**
 * The activity side of Temporal's API (`aion/activity`): its functions, durable heartbeat
 * details, and asynchronous completion by task token, across restarts too.
 */
import { describe, expect, it } from 'vitest';
import { activityInfo, ApplicationFailure, cancellationDetails, cancelled, heartbeat } from 'aion/activity';
import { ApplicationFailureCategory } from 'aion/common';
import { Engine } from '../../engine/engine.js';
import { ActivityNotFoundError, InvalidArgumentError } from '../../engine/errors.js';
import { completedElsewhere, describeSelf, executesThroughClient } from '../fixtures/temporal-activities.js';
import { fixtureBundle, openEngine, silentLogger, tempDir, withTestStore } from '../helpers.js';

const BUNDLE = 'temporal-compat.ts';

async function openFirst(dataDir: string, activities: EngineActivities): Promise<Engine> {
  const engine = await Engine.open(withTestStore({ dataDir, logger: silentLogger, activities }));
  await engine.deploy({ code: await fixtureBundle(BUNDLE) });
  return engine;
}
type EngineActivities = NonNullable<Parameters<typeof Engine.open>[0]>['activities'];

describe('activity API', () => {
  it('gives activities Temporal’s functions: activityInfo, heartbeat, sleep, log, cancellationSignal', async () => {
    const engine = await openEngine({ activities: { describeSelf } }, BUNDLE);
    const handle = await engine.start('runsActivity', { args: ['describeSelf'], workflowId: 'self' });
    expect(await handle.result()).toEqual({
      attempt: 1,
      isLocal: false,
      workflowExecution: { workflowId: 'self', runId: handle.runId },
      activityType: 'describeSelf',
      startToCloseTimeoutMs: 60_000,
      tokenIsBytes: true,
      aborted: false,
    });
  });

  it('gives activities a client of their engine, in their namespace (Context.current().client, getClient())', async () => {
    const engine = await openEngine({ activities: { describeSelf, executesThroughClient } }, BUNDLE);
    await engine.deploy({ code: await fixtureBundle(BUNDLE), namespace: 'tenant' });
    const outer = await engine.start('runsActivity', { args: ['executesThroughClient', 'runsActivity', 'inner', 'describeSelf'], namespace: 'tenant' });
    expect(await outer.result()).toMatchObject({ activityType: 'describeSelf', workflowExecution: { workflowId: 'inner' } });
    expect((await engine.getHandle('inner', undefined, { namespace: 'tenant' }).describe()).status).toBe('Completed');
    await expect(engine.getHandle('inner').describe()).rejects.toThrow(/not found/);
  });

  it('shows a pending activity’s attempt and why the previous one failed in describe()', async () => {
    let calls = 0;
    let secondAttempt!: () => void;
    const running = new Promise<void>((resolve) => (secondAttempt = resolve));
    const flakyThenStuck = async () => {
      if (++calls === 1) throw new Error('the first try fails');
      secondAttempt();
      return new Promise(() => undefined);
    };
    const engine = await openEngine({ activities: { flakyThenStuck } }, BUNDLE);
    const handle = await engine.start('runsActivity', { args: ['flakyThenStuck'] });
    await running;
    const { pending } = await handle.describe();
    expect(pending?.activities).toEqual([{ seq: 1, activityType: 'flakyThenStuck', attempt: 2, lastFailure: { message: 'the first try fails', type: 'Error' } }]);
    expect(pending).toMatchObject({ timers: [], children: [], updates: [] });
    await handle.terminate('test over');
    expect((await handle.describe()).pending).toBeUndefined();
  });

  it('carries a failure’s category (ApplicationFailureCategory.BENIGN) to the workflow', async () => {
    const expected = async () => {
      throw ApplicationFailure.create({ message: 'nothing to do yet', nonRetryable: true, category: ApplicationFailureCategory.BENIGN });
    };
    const engine = await openEngine({ activities: { expected } }, BUNDLE);
    const handle = await engine.start('runsActivity', { args: ['expected'] });
    await expect(handle.result()).rejects.toMatchObject({ cause: { name: 'ActivityFailure', cause: { message: 'nothing to do yet', category: 'BENIGN' } } });
  });

  it('tells an attempt cut off by the engine closing why (cancellationDetails())', async () => {
    let details: ReturnType<typeof cancellationDetails> | 'not cancelled' = 'not cancelled';
    let started!: () => void;
    const running = new Promise<void>((resolve) => (started = resolve));
    const slow = async () => {
      started();
      const seen = cancellationDetails();
      await cancelled().catch(() => (details = cancellationDetails()));
      return seen;
    };
    const engine = await Engine.open({ logger: silentLogger, activities: { slow } });
    await engine.deploy({ code: await fixtureBundle('stack-traces.ts') });
    await engine.start('waiting');
    await running;
    await engine.close();
    expect(details).toMatchObject({ workerShutdown: true, cancelRequested: false, timedOut: false });
  });

  it('records heartbeat details: an attempt cut off by a restart resumes from the last ones', async () => {
    const dataDir = tempDir();
    let beaten!: () => void;
    const heartbeated = new Promise<void>((resolve) => (beaten = resolve));
    const first = await openFirst(dataDir, {
      resumable: async () => {
        heartbeat({ progress: 3 });
        beaten();
        return new Promise(() => undefined); // cut off by the restart
      },
    });
    await first.start('runsActivity', { args: ['resumable'], workflowId: 'resumes' });
    await heartbeated;
    await first.close();

    const second = await openEngine({ dataDir, activities: { resumable: async () => ({ resumedFrom: activityInfo().heartbeatDetails }) } }, BUNDLE);
    expect(await second.getHandle('resumes').result()).toEqual({ resumedFrom: { progress: 3 } });
  });

  describe('asynchronous completion', () => {
    it('completes an activity that threw CompleteAsyncError, by its task token', async () => {
      const tokens: string[] = [];
      const engine = await openEngine({ activities: { completedLater: completedElsewhere(tokens) } }, BUNDLE);
      const handle = await engine.start('runsActivity', { args: ['completedLater'] });
      await expect.poll(() => tokens.length).toBe(1);
      const completion = engine.asyncCompletion(tokens[0]);
      await completion.heartbeat({ halfway: true });
      await completion.complete('completed from outside');
      expect(await handle.result()).toBe('completed from outside');
      // Done: the token names nothing any more.
      await expect(completion.complete('twice')).rejects.toThrow(ActivityNotFoundError);
    });

    it('retries a failed asynchronous attempt per the retry policy', async () => {
      const tokens: string[] = [];
      const engine = await openEngine({ activities: { completedLater: completedElsewhere(tokens) } }, BUNDLE);
      const handle = await engine.start('runsActivity', { args: ['completedLater'] });
      await expect.poll(() => tokens.length).toBe(1);
      await engine.asyncCompletion(tokens[0]).fail(new Error('the outside system said no'));
      await expect.poll(() => tokens.length).toBe(2);
      await engine.asyncCompletion(tokens[1]).complete('second attempt');
      expect(await handle.result()).toBe('second attempt');
      const completed = (await handle.history()).find((event) => event.type === 'ActivityCompleted');
      expect(completed).toMatchObject({ attempt: 2 });
    });

    it('keeps waiting across a restart instead of running the activity again', async () => {
      const dataDir = tempDir();
      const tokens: string[] = [];
      const first = await openFirst(dataDir, { completedLater: completedElsewhere(tokens) });
      await first.start('runsActivity', { args: ['completedLater'], workflowId: 'async-restart' });
      await expect.poll(() => tokens.length).toBe(1);
      await first.close();

      let ranAgain = 0;
      const second = await openEngine({ dataDir, activities: { completedLater: async () => ++ranAgain } }, BUNDLE);
      await second.asyncCompletion(Buffer.from(tokens[0], 'base64')).complete('after the restart');
      expect(await second.getHandle('async-restart').result()).toBe('after the restart');
      expect(ranAgain).toBe(0);
    });

    it('refuses a token that is not one', async () => {
      const engine = await openEngine({}, BUNDLE);
      expect(() => engine.asyncCompletion('not a token')).toThrow(InvalidArgumentError);
      await expect(engine.asyncCompletion(Buffer.from(JSON.stringify(['default', 'no-such-run', 1, 1])).toString('base64')).complete(1)).rejects.toThrow(ActivityNotFoundError);
    });
  });
});
