/**
 * The `maxActivityTasksInFlight` quota: at most that many of a namespace's activity attempts
 * run at once, in process or for remote workers; the others wait their turn (nothing fails),
 * and another namespace is not held back.
 */
import { describe, expect, it } from 'vitest';
import { activityInfo } from '../../activity/index.js';
import { fixtureBundle, openEngine } from '../helpers.js';

const BUNDLE = 'remote-activities.ts';

describe('activity tasks in flight per namespace', () => {
  it('runs at most the quota of a namespace’s activities at once, the others after, and another namespace’s freely', async () => {
    const running = new Map<string, number>();
    const most = new Map<string, number>();
    const releases: (() => void)[] = [];
    let holding = true;
    const activities = {
      async tracked(i: number) {
        const { namespace } = activityInfo();
        running.set(namespace, (running.get(namespace) ?? 0) + 1);
        most.set(namespace, Math.max(most.get(namespace) ?? 0, running.get(namespace)!));
        if (holding) await new Promise<void>((resolve) => releases.push(resolve));
        running.set(namespace, running.get(namespace)! - 1);
        return i;
      },
    };
    const engine = await openEngine({ activities }, BUNDLE);
    const code = await fixtureBundle(BUNDLE);
    await engine.namespaces.create('limited', { quotas: { maxActivityTasksInFlight: 2 } });
    await engine.namespaces.create('free');
    await engine.deploy({ code, namespace: 'limited' });
    await engine.deploy({ code, namespace: 'free' });
    const options = { startToCloseTimeout: '30s' };
    const limited = await engine.start('callParallel', { namespace: 'limited', args: ['tracked', 6, options] });
    const free = await engine.start('callParallel', { namespace: 'free', args: ['tracked', 6, options] });
    await expect.poll(() => running.get('free')).toBe(6);
    expect(running.get('limited')).toBe(2);
    // From now on they end at once: each freed slot lets the next waiting attempt of `limited` start.
    holding = false;
    for (const release of releases.splice(0)) release();
    expect(await limited.result()).toEqual([0, 1, 2, 3, 4, 5]);
    expect(await free.result()).toEqual([0, 1, 2, 3, 4, 5]);
    expect(most.get('limited')).toBe(2);
    expect(most.get('free')).toBe(6);
  });

  it('offers at most the quota of a namespace’s attempts to remote workers; the others wait to be offered', async () => {
    const engine = await openEngine({}, BUNDLE);
    await engine.namespaces.create('limited', { quotas: { maxActivityTasksInFlight: 2 } });
    await engine.deploy({ code: await fixtureBundle(BUNDLE), namespace: 'limited' });
    const handle = await engine.start('callParallel', { namespace: 'limited', args: ['remoteOnly', 5, { taskQueue: 'remote', startToCloseTimeout: '30s' }] });
    await expect.poll(async () => (await engine.describeTaskQueue('remote', { namespace: 'limited' })).backlog).toBe(2);
    // A worker takes and completes them one by one: each frees a slot, and the next attempt is offered.
    const results: unknown[] = [];
    for (let i = 0; i < 5; i++) {
      const task = await engine.pollActivityTask({ namespace: 'limited', taskQueue: 'remote', identity: 'test-worker', waitMs: 5_000 });
      await engine.asyncCompletion(task!.info.base64TaskToken, { namespace: 'limited' }).complete(`done ${String(task!.args[0])}`);
      results.push(task!.args[0]);
    }
    expect(results.sort()).toEqual([0, 1, 2, 3, 4]);
    expect(await handle.result()).toEqual(['done 0', 'done 1', 'done 2', 'done 3', 'done 4']);
  });
});
