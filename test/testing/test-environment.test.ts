/**
 * aion/testing: the time-skipping environment runs a workflow that sleeps 90 days to its end
 * (the clock jumps to each timer while the engine is idle), `env.sleep` moves time forward,
 * and the histories it records replay; the local environment runs on the real clock.
 */
import { describe, expect, it } from 'vitest';
import { replayHistory } from '../../engine/replay-history.js';
import { TestWorkflowEnvironment } from '../../testing/index.js';
import { fixture, fixtureBundle, silentLogger } from '../helpers.js';

const DAY = 24 * 3600 * 1000;

describe('TestWorkflowEnvironment', () => {
  it('skips time: a workflow that sleeps 90 days completes, seeing the skipped time', async () => {
    const charged: number[] = [];
    const env = await TestWorkflowEnvironment.createTimeSkipping({ logger: silentLogger, activities: { charge: async (period: number) => (charged.push(period), period) } });
    try {
      await env.deploy({ workflowsPath: fixture('temporal-compat.ts') });
      const startedAt = env.currentTimeMs;
      const handle = await env.client.workflow.start('subscription', { workflowId: 'sub', taskQueue: 'test', args: [3] });
      const times = (await handle.result()) as number[];
      expect(charged).toEqual([0, 1, 2]);
      expect(times[0] - startedAt).toBeGreaterThanOrEqual(30 * DAY);
      expect(times[2] - startedAt).toBeGreaterThanOrEqual(90 * DAY);
      expect(env.currentTimeMs - startedAt).toBeGreaterThanOrEqual(90 * DAY);
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

  it('runs on the real clock in the local environment', async () => {
    const env = await TestWorkflowEnvironment.createLocal({ logger: silentLogger });
    try {
      await env.deploy({ code: await fixtureBundle('temporal-compat.ts') });
      expect(Math.abs(env.currentTimeMs - Date.now())).toBeLessThan(1000);
      expect(await env.client.workflow.execute('rootOfChain', { workflowId: 'local', taskQueue: 'test', args: [0] })).toEqual({});
    } finally {
      await env.teardown();
    }
  });
});
