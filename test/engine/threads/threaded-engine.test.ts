/**
 * An engine whose runs are served by partition threads: every call reaches the thread serving
 * the workflow, effects cross between threads, and a folder opens with any thread count.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Engine } from '../../../engine/engine.js';
import { InvalidArgumentError, WorkflowAlreadyStartedError, WorkflowFailedError, WorkflowNotFoundError } from '../../../engine/errors.js';
import { StoreError } from '../../../store/index.js';
import { partitionFolder } from '../../../store/open.js';
import { makeActivities } from '../../fixtures/activities.js';
import { fixture, fixtureBundle, openEngine, silentLogger, tempDir } from '../../helpers.js';
import { threadOf } from '../../recovery/kill-threads-ids.js';

/** A workflow id served by thread `thread` (of two, in a folder of 16 partitions). */
function idOn(thread: number, prefix: string): string {
  for (let n = 0; ; n++) if (threadOf(`${prefix}-${n}`) === thread) return `${prefix}-${n}`;
}

describe('an engine with partition threads', { timeout: 60_000 }, () => {
  it('serves every call on a workflow from the thread that holds it, on either thread', async () => {
    const engine = await openEngine({ threads: 2, activities: makeActivities() });
    for (const thread of [0, 1]) {
      const id = idOn(thread, 'approval');
      const handle = await engine.start('approval', { workflowId: id });
      await handle.signal('approve', 'ann');
      expect(await handle.query('status')).toBe('approved by ann');
      const update = await handle.startUpdate('setLimit', { args: [150] });
      expect(await update.result()).toBe(0);
      expect(await handle.getUpdateHandle(update.updateId).result()).toBe(0);
      expect(await handle.result()).toEqual({ approvedBy: 'ann', limit: 150 });
      expect(await handle.describe()).toMatchObject({ workflowId: id, status: 'Completed', workflowType: 'approval' });
      const types = (await handle.history()).map((event) => event.type);
      expect(types[0]).toBe('WorkflowStarted');
      const streamed: string[] = [];
      for await (const event of engine.getHandle(id).events()) streamed.push(event.type);
      expect(streamed).toEqual(types);

      const order = await engine.start('order', { args: ['book', 12], workflowId: idOn(thread, 'order') });
      expect(await order.result()).toEqual({ reservation: 'reserved:book', charged: 1200, shipped: 'shipped:book' });
    }
    expect(await engine.count()).toBe(4);
    expect((await engine.list({ workflowType: 'order' })).length).toBe(2);
  });

  it('runs the activities of a module in each partition thread (activitiesModule)', async () => {
    const engine = await openEngine({ threads: 2, activitiesModule: fixture('module-activities.ts') });
    const orders = await Promise.all([0, 1].map((thread) => engine.start('order', { args: ['pen', 3], workflowId: idOn(thread, 'module-order') })));
    for (const order of orders) expect(await order.result()).toEqual({ reservation: 'reserved:pen', charged: 300, shipped: 'shipped:pen' });
    await expect(Engine.open({ activitiesModule: fixture('module-activities.ts'), logger: silentLogger })).rejects.toThrow(/activitiesModule is for partition threads/);
  });

  it('sends payloads as JSON carries them, and names a run of another partition as no run of the workflow', async () => {
    const engine = await openEngine({ threads: 2 });
    const name = { toJSON: () => 'ann' };
    expect(await (await engine.start('greet', { args: [name], workflowId: idOn(0, 'json') })).result()).toBe('hello ann');
    const other = await engine.start('greet', { args: ['bob'], workflowId: idOn(1, 'json') });
    await other.result();
    const { runId } = await other.describe();
    await expect(engine.getHandle(idOn(0, 'json'), runId).describe()).rejects.toBeInstanceOf(WorkflowNotFoundError);
  });

  it('keeps a workflow id unique, and answers errors as the errors they are', async () => {
    const engine = await openEngine({ threads: 2 });
    const id = idOn(1, 'unique');
    const first = await engine.start('approval', { workflowId: id });
    const refused = await engine.start('approval', { workflowId: id }).catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(WorkflowAlreadyStartedError);
    expect(refused).toMatchObject({ code: 'ALREADY_STARTED', workflowId: id, runId: (await first.describe()).runId });
    await expect(engine.getHandle('nobody').describe()).rejects.toBeInstanceOf(WorkflowNotFoundError);
    await expect(engine.start('approval', { workflowId: 'x', args: 'not a list' as never })).rejects.toBeInstanceOf(InvalidArgumentError);
    await first.terminate('done here');
    const failed = await first.result().catch((error: unknown) => error);
    expect(failed).toBeInstanceOf(WorkflowFailedError);
    expect(failed).toMatchObject({ status: 'Terminated' });
  });

  it('starts children and applies parent-close policies across threads', async () => {
    const engine = await openEngine({ threads: 2 }, 'semantics.ts');
    const child = idOn(1, 'child');
    expect(await (await engine.start('parentWithPolicy', { args: ['TERMINATE', child], workflowId: idOn(0, 'parent') })).result()).toBe('parent done');
    await expect(engine.getHandle(child).result()).rejects.toMatchObject({ status: 'Terminated' });
    // A child that cannot start (its id is running, on the other thread) is told to its parent.
    const taken = idOn(0, 'taken');
    await engine.start('waitsForever', { workflowId: taken });
    expect(await (await engine.start('awaitsChild', { args: [taken], workflowId: idOn(1, 'awaits') })).result()).toMatch(/^child failed: .*already running/);
    expect(await (await engine.start('parentOfThree', { workflowId: idOn(1, 'three') })).result()).toBeDefined();
  });

  it('signals a workflow of another thread, and the sender learns it was delivered', async () => {
    const engine = await openEngine({ threads: 2 }, 'temporal-compat.ts');
    const target = idOn(0, 'target');
    const receiver = await engine.start('pingReceiver', { workflowId: target });
    const sender = await engine.start('signalsTwice', { args: [target], workflowId: idOn(1, 'sender') });
    expect(await sender.result()).toBe('sent both');
    expect(await receiver.result()).toEqual(['one', 'stop']);
    expect((await sender.history()).filter((event) => event.type === 'ExternalWorkflowSignaled')).toHaveLength(2);
  });

  it('runs schedules from the main thread on the threads serving their runs', async () => {
    const engine = await openEngine({ threads: 2 }, 'semantics.ts');
    const fired = new Promise((resolve) => engine.events.once('scheduleFired', resolve));
    await engine.schedules.create({ scheduleId: 'tick', spec: { intervalMs: 1000 }, action: { workflowType: 'patient', args: [1] } });
    await engine.schedules.trigger('tick');
    await fired;
    const [started] = (await engine.schedules.describe('tick')).recentActions;
    expect(await engine.getHandle(started.workflowId).result()).toBe('woke');
  });

  it('changes schedules from an activity of either thread, through the main thread that keeps them', async () => {
    const engine = await openEngine({ threads: 2, activitiesModule: fixture('schedule-activities.ts') });
    for (const thread of [0, 1]) {
      const item = `from-thread-${thread}`;
      const fired = new Promise((resolve) => engine.events.on('scheduleFired', (event) => event.scheduleId === item && resolve(event)));
      expect(await (await engine.start('order', { args: [item, 1], workflowId: idOn(thread, 'scheduling') })).result()).toMatchObject({ reservation: `reserved:${item}` });
      await fired;
      const { recentActions, spec } = await engine.schedules.describe(item);
      expect(spec).toEqual({ intervalMs: '1h' });
      expect(await engine.getHandle(recentActions[0].workflowId).result()).toBe(`hello ${item}`);
    }
  });

  it('opens a folder with any thread count, and refuses another partition count', async () => {
    const dataDir = tempDir();
    const ids = [idOn(0, 'kept'), idOn(1, 'kept')];
    const first = await Engine.open({ dataDir, threads: 2, logger: silentLogger });
    await first.deploy({ code: await fixtureBundle() });
    for (const id of ids) await first.start('approval', { workflowId: id });
    await first.close();
    for (const threads of [1, 4, undefined]) {
      const engine = await Engine.open({ dataDir, ...(threads === undefined ? {} : { threads }), logger: silentLogger });
      for (const id of ids) expect(await engine.getHandle(id).query('status')).toBe('waiting');
      await engine.close();
    }
    await expect(Engine.open({ dataDir, threads: 2, partitions: 4, logger: silentLogger })).rejects.toSatisfy((error) => error instanceof StoreError && error.code === 'AION_STORE_LAYOUT');
    await expect(Engine.open({ dataDir, threads: 32, logger: silentLogger })).rejects.toThrow('threads (32) must be at most the partition count (16)');
    await expect(Engine.open({ threads: 0, logger: silentLogger })).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(Engine.open({ dataDir, threads: 2, sandboxThreads: 0, logger: silentLogger })).rejects.toThrow('sandboxThreads must be an integer between 1 and 256');
  });

  it('closes the partitions the other threads opened when one cannot open its own, so the folder opens again', async () => {
    const dataDir = tempDir();
    await (await Engine.open({ dataDir, threads: 2, logger: silentLogger })).close();
    const current = join(partitionFolder(dataDir, 3), 'CURRENT');
    const intact = readFileSync(current);
    writeFileSync(current, 'MANIFEST-nothing\n');
    await expect(Engine.open({ dataDir, threads: 2, logger: silentLogger })).rejects.toSatisfy((error) => error instanceof StoreError && error.message.includes('p03'));
    writeFileSync(current, intact);
    await (await Engine.open({ dataDir, threads: 2, logger: silentLogger })).close();
  });
});
