/**
 * In-process activities per namespace: a namespace calls the activities registered for every
 * namespace and its own, never another namespace's; an unknown activity is named without
 * listing what is registered. And a workflow error whose properties cannot be read is still
 * recorded, as the reason its workflow task failed.
 */
import { describe, expect, it } from 'vitest';
import { Engine } from '../../engine/engine.js';
import { fixtureBundle, openEngine, silentLogger, tempDir, withTestStore } from '../helpers.js';

const shared = { echo: async (value: unknown) => ({ echoed: value }) };
const tenantA = { secret: async () => 'tenant-a data' };

describe('activities per namespace', () => {
  it('lets a namespace call shared activities and its own, not another namespace’s', async () => {
    const engine = await openEngine({ activities: shared, namespaceActivities: { 'tenant-a': tenantA } }, 'payloads.ts');
    await engine.deploy({ code: await fixtureBundle('payloads.ts'), namespace: 'tenant-a' });
    await engine.deploy({ code: await fixtureBundle('payloads.ts'), namespace: 'tenant-b' });
    const call = async (namespace: string, name: string) => (await engine.start('callActivity', { namespace, args: [name, 1] })).result();
    expect(await call('tenant-a', 'secret')).toEqual({ result: 'tenant-a data' });
    expect(await call('tenant-b', 'echo')).toEqual({ result: { echoed: 1 } });
    expect(await call('tenant-b', 'secret')).toEqual({
      failure: { type: 'SCHEDULE_TO_START', message: "no worker of task queue 'default' of namespace 'tenant-b' took activity 'secret' (schedule-to-start timeout)" },
    });
  });

  it('keeps an activity no function runs waiting, without using up attempts, until an engine that has it picks it up', async () => {
    const dataDir = tempDir();
    const first = await Engine.open(withTestStore({ dataDir, logger: silentLogger }));
    await first.deploy({ code: await fixtureBundle('payloads.ts') });
    const handle = await first.start('callPatiently', { args: ['registeredLater', 2], workflowId: 'patient' });
    await expect.poll(async () => (await handle.history()).map((event) => event.type)).toContain('ActivityScheduled');
    expect((await handle.describe()).status).toBe('Running');
    await first.close();
    const second = await openEngine({ dataDir, activities: { registeredLater: async (n: number) => n * 10 } }, 'payloads.ts');
    expect(await second.getHandle('patient').result()).toBe(20);
    expect((await second.getHandle('patient').history()).find((event) => event.type === 'ActivityCompleted')).toMatchObject({ attempt: 1 });
  });

  it('refuses activity registrations that are not functions', async () => {
    await expect(openEngine({ namespaceActivities: { x: { bad: 1 as never } } })).rejects.toThrow('namespaceActivities.x.bad is not a function');
  });
});

describe('a workflow error whose properties throw', () => {
  it('fails the workflow task with a recorded reason, without crashing the engine', async () => {
    const engine = await openEngine({ supervision: { initialBackoffMs: 5, maxBackoffMs: 10 } }, 'payloads.ts');
    const handle = await engine.start('unreadableError');
    await expect.poll(async () => (await handle.describe()).supervision?.lastCrash.message).toBe('UnreadableError: a value was thrown whose properties cannot be read');
    expect((await handle.history()).map((event) => event.type)).toContain('WorkflowTaskFailed');
    await handle.terminate('test over');
  });
});
