/**
 * aion/testing: the time-skipping environment runs a workflow that sleeps 90 days to its end
 * (the clock jumps to each timer while the engine is idle), `env.sleep` moves time forward,
 * and the histories it records replay; the local environment runs on the real clock.
 */
import { describe, expect, it } from 'vitest';
import { Engine } from '../../engine/engine.js';
import { replayHistory } from '../../engine/replay-history.js';
import { MockActivityEnvironment, TestWorkflowEnvironment } from '../../testing/index.js';
import { activityInfo, cancellationDetails, cancelled, heartbeat } from 'aion/activity';
import { fixture, fixtureBundle, silentLogger } from '../helpers.js';

const DAY = 24 * 3600 * 1000;

describe('TestWorkflowEnvironment', () => {
  it('skips time: a workflow that sleeps 90 days completes, seeing the skipped time', async () => {
    const charged: number[] = [];
    const env = await TestWorkflowEnvironment.createTimeSkipping({ logger: silentLogger, activities: { charge: async (period: number) => (charged.push(period), period) } });
    try {
      await env.deploy({ workflowsPath: fixture('temporal-compat.ts') });
      const startedAt = await env.currentTimeMs();
      const handle = await env.client.workflow.start('subscription', { workflowId: 'sub', taskQueue: 'test', args: [3] });
      const times = (await handle.result()) as number[];
      expect(charged).toEqual([0, 1, 2]);
      expect(times[0] - startedAt).toBeGreaterThanOrEqual(30 * DAY);
      expect(times[2] - startedAt).toBeGreaterThanOrEqual(90 * DAY);
      expect((await env.currentTimeMs()) - startedAt).toBeGreaterThanOrEqual(90 * DAY);
      await replayHistory({ code: await fixtureBundle('temporal-compat.ts') }, (await handle.fetchHistory()).events);
    } finally {
      await env.teardown();
    }
  });

  it('moves time forward with env.sleep, firing the timers due on the way', async () => {
    const env = await TestWorkflowEnvironment.createTimeSkipping({ logger: silentLogger });
    try {
      await env.deploy({ code: await fixtureBundle('temporal-compat.ts') });
      const handle = await env.client.workflow.start('reminder', { workflowId: 'reminder', taskQueue: 'test' });
      await env.sleep('6 days');
      expect((await handle.describe()).status.name).toBe('RUNNING');
      await env.sleep('1 day');
      expect((await handle.describe()).status.name).toBe('COMPLETED');
      expect(await handle.result()).toBe('a week passed');
    } finally {
      await env.teardown();
    }
  });

  it('moves time with env.sleep while an activity runs, even one that calls it, as Temporal’s tests do', async () => {
    // The activity refers to the environment it runs in (called only once it exists).
    const env: TestWorkflowEnvironment = await TestWorkflowEnvironment.createTimeSkipping({ logger: silentLogger, activities: { slow: async () => env.sleep('2 hours') } });
    try {
      await env.deploy({ code: await fixtureBundle('time-skipping.ts') });
      expect(await env.client.workflow.execute('raceActivityAndTimer', { workflowId: 'race', taskQueue: 'test' })).toBe('timer');
    } finally {
      await env.teardown();
    }
  });

  it('fires each timer at its time when a result wait and env.sleep skip time together', async () => {
    const ticks: number[] = [];
    const env: TestWorkflowEnvironment = await TestWorkflowEnvironment.createTimeSkipping({
      logger: silentLogger,
      activities: { tick: async () => void ticks.push(await env.currentTimeMs()) },
    });
    try {
      await env.deploy({ code: await fixtureBundle('time-skipping.ts') });
      const startedAt = await env.currentTimeMs();
      await env.client.workflow.start('ticker', { workflowId: 'ticker', taskQueue: 'test' });
      const sleeper = await env.client.workflow.start('longSleeper', { workflowId: 'sleeper', taskQueue: 'test' });
      const waiting = sleeper.result();
      await env.sleep('150 seconds');
      // At least the two ticks due by then, each a minute after the previous one (not one late
      // tick at the end); the pending result wait may skip on to the third meanwhile.
      const minutes = ticks.map((at) => Math.round((at - startedAt) / 60_000));
      expect([[1, 2], [1, 2, 3]]).toContainEqual(minutes);
      await waiting;
      expect(ticks.map((at) => Math.round((at - startedAt) / 60_000))).toEqual([1, 2, 3]);
    } finally {
      await env.teardown();
    }
  });

  it('runs activity code alone in a MockActivityEnvironment: info, heartbeats, cancellation', async () => {
    const mock = new MockActivityEnvironment({ attempt: 3, activityType: 'upload' });
    const beats: unknown[] = [];
    mock.on('heartbeat', (details) => beats.push(details));
    const upload = async (file: string) => {
      heartbeat({ file, done: 0.5 });
      return `${activityInfo().activityType} ${file} on attempt ${activityInfo().attempt}`;
    };
    expect(await mock.run(upload, 'a.txt')).toBe('upload a.txt on attempt 3');
    expect(beats).toEqual([{ file: 'a.txt', done: 0.5 }]);
    const waiting = mock.run(async () => {
      await cancelled();
    });
    mock.cancel();
    await expect(waiting).rejects.toMatchObject({ name: 'CancelledFailure' });
    expect(await mock.run(async () => cancellationDetails())).toMatchObject({ cancelRequested: true });
  });

  it('skips to an activity’s timeouts too, and not past a cancelled timer', async () => {
    const env = await TestWorkflowEnvironment.createTimeSkipping({ logger: silentLogger });
    try {
      await env.deploy({ code: await fixtureBundle('temporal-compat.ts') });
      // The 1-minute schedule-to-start timeout of an activity no function runs comes before the 1-hour timer.
      expect(await env.client.workflow.execute('raceMissingActivity', { workflowId: 'race', taskQueue: 'test' })).toMatch(/^activity failed: .*schedule-to-start timeout/);
      // A 30-day wait ended early by a signal leaves no timer to skip to.
      const waiting = await env.client.workflow.start('pingOrMonth', { workflowId: 'month', taskQueue: 'test' });
      await waiting.signal('ping');
      expect(await waiting.result()).toBe(true);
      const before = await env.currentTimeMs();
      await env.sleep(1000);
      expect((await env.currentTimeMs()) - before).toBeLessThan(DAY);
    } finally {
      await env.teardown();
    }
  });

  it('lets an activity finish before skipping to the timer after it', async () => {
    let finished = 0;
    const env = await TestWorkflowEnvironment.createTimeSkipping({
      logger: silentLogger,
      activities: { charge: (period: number) => new Promise((resolve) => setTimeout(() => resolve((finished++, period)), 50)) },
    });
    try {
      await env.deploy({ code: await fixtureBundle('temporal-compat.ts') });
      const times = (await env.client.workflow.execute('subscription', { workflowId: 'slow-charges', taskQueue: 'test', args: [2] })) as number[];
      expect(finished).toBe(2);
      expect(times[1] - times[0]).toBeGreaterThanOrEqual(30 * DAY);
    } finally {
      await env.teardown();
    }
  });

  it('runs a cron workflow at each tick with the same input until it is terminated, and cron children too', async () => {
    const env = await TestWorkflowEnvironment.createTimeSkipping({ logger: silentLogger });
    try {
      await env.deploy({ code: await fixtureBundle('temporal-compat.ts') });
      const { workflow } = env.client;
      await workflow.start('cronTick', { workflowId: 'hourly', taskQueue: 'test', args: ['tick'], cronSchedule: '0 * * * *' });
      expect(await workflow.execute('startsCronChild', { workflowId: 'cron-parent', taskQueue: 'test' })).toBe('cron-child');
      await env.sleep('3 hours');
      const results = async (workflowId: string) => {
        const ended = (await env.engine.list({ workflowType: 'cronTick', status: 'Completed' })).filter((run) => run.workflowId === workflowId);
        return Promise.all(ended.map((run) => workflow.getHandle(workflowId, run.runId, { followRuns: false }).result()));
      };
      const hourly = await results('hourly');
      expect(hourly.length).toBeGreaterThanOrEqual(3);
      for (const result of hourly) expect(result).toMatch(/^tick at \d{4}-\d\d-\d\dT\d\d:00:00\.\d{3}Z on 0 \* \* \* \*$/);
      const children = await results('cron-child');
      expect(children.length).toBeGreaterThanOrEqual(3);
      for (const result of children) expect(result).toMatch(/^child at .*T\d\d:30:00\.\d{3}Z on 30 \* \* \* \*$/);

      // As in Temporal, the workflow's result follows its cron runs: it ends only with the cron.
      const chained = workflow.getHandle('hourly').result().catch((error: unknown) => error);
      await workflow.getHandle('hourly').terminate('enough');
      expect(await chained).toMatchObject({ status: 'Terminated' });
      const runsOf = async () => (await env.engine.list({ workflowType: 'cronTick' })).filter((run) => run.workflowId === 'hourly').length;
      const afterTerminate = await runsOf();
      await env.sleep('2 hours');
      expect(await runsOf()).toBe(afterTerminate);
    } finally {
      await env.teardown();
    }
  });

  it('gives each cron run the result of the run before it', async () => {
    const env = await TestWorkflowEnvironment.createTimeSkipping({ logger: silentLogger });
    try {
      await env.deploy({ code: await fixtureBundle('temporal-compat.ts') });
      await env.client.workflow.start('cronCount', { workflowId: 'counting', taskQueue: 'test', cronSchedule: '0 * * * *' });
      await env.sleep('3 hours');
      const ended = await env.engine.list({ workflowType: 'cronCount', status: 'Completed' });
      const counts = await Promise.all(ended.map((run) => env.engine.getHandle('counting', run.runId, { followRuns: false }).result()));
      expect((counts as number[]).sort()).toEqual(Array.from({ length: counts.length }, (_, i) => i + 1));
      expect(counts.length).toBeGreaterThanOrEqual(3);
    } finally {
      await env.teardown();
    }
  });

  it('ends a cron workflow at its execution timeout, and counts a run timeout from the run’s tick', async () => {
    const env = await TestWorkflowEnvironment.createTimeSkipping({ logger: silentLogger });
    try {
      await env.deploy({ code: await fixtureBundle('temporal-compat.ts') });
      const { workflow } = env.client;
      await workflow.start('cronTick', { workflowId: 'bounded', taskQueue: 'test', args: ['b'], cronSchedule: '0 * * * *', workflowExecutionTimeout: '150 minutes', workflowRunTimeout: '1 minute' });
      await env.sleep('6 hours');
      const runs = (await env.engine.list({ workflowType: 'cronTick' })).filter((run) => run.workflowId === 'bounded');
      // The ticks within the 150 minutes (two or three), each run done within its minute from its tick; no run after them.
      expect(runs.length).toBeGreaterThanOrEqual(2);
      expect(runs.length).toBeLessThanOrEqual(3);
      expect(new Set(runs.map((run) => run.status))).toEqual(new Set(['Completed']));
    } finally {
      await env.teardown();
    }
  });

  it('is refused on a data folder, whose clock could go back when reopened', async () => {
    await expect(Engine.open({ timeSkipping: true, dataDir: '/tmp/never-created', logger: silentLogger })).rejects.toThrow(/timeSkipping is for in-memory test engines/);
  });

  it('runs on the real clock in the local environment', async () => {
    const env = await TestWorkflowEnvironment.createLocal({ logger: silentLogger });
    try {
      await env.deploy({ code: await fixtureBundle('temporal-compat.ts') });
      expect(Math.abs((await env.currentTimeMs()) - Date.now())).toBeLessThan(1000);
      expect(await env.client.workflow.execute('rootOfChain', { workflowId: 'local', taskQueue: 'test', args: [0] })).toEqual({});
    } finally {
      await env.teardown();
    }
  });
});
