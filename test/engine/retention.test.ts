/**
 * A namespace's retention: a run that closes is deleted once the retention has passed — its
 * history, record, visibility entries and snapshot — through a durable due entry recorded with
 * the close, so a restart keeps the appointment. Runs of namespaces without retention stay.
 */
import { once } from 'node:events';
import { describe, expect, it } from 'vitest';
import { WorkflowNotFoundError } from '../../engine/errors.js';
import { Engine } from '../../engine/engine.js';
import { fixtureBundle, openEngine, silentLogger, tempDir, withTestStore } from '../helpers.js';

const DAY = 24 * 3600 * 1000;

async function withNamespace(engine: Engine, name: string, retention?: string): Promise<void> {
  await engine.namespaces.create(name, retention === undefined ? {} : { retention });
  await engine.deploy({ code: await fixtureBundle(), namespace: name });
}

describe('retention of closed runs', () => {
  it('deletes a closed run once its namespace retention has passed, and nothing of other namespaces', async () => {
    const engine = await openEngine({ timeSkipping: true });
    await withNamespace(engine, 'brief', '30 days');
    await withNamespace(engine, 'keeps');
    const purged: string[] = [];
    engine.events.on('runPurged', ({ namespace, workflowId }) => purged.push(`${namespace}/${workflowId}`));

    const brief = await engine.start('greet', { namespace: 'brief', workflowId: 'g', args: ['ann'] });
    const kept = await engine.start('greet', { namespace: 'keeps', workflowId: 'g', args: ['bob'] });
    expect(await brief.result()).toBe('hello ann');
    expect(await kept.result()).toBe('hello bob');

    await engine.timeSkipping!.sleep(29 * DAY);
    expect((await brief.describe()).status).toBe('Completed');
    await engine.timeSkipping!.sleep(2 * DAY);
    expect(purged).toEqual(['brief/g']);
    await expect(brief.describe()).rejects.toBeInstanceOf(WorkflowNotFoundError);
    await expect(brief.history()).rejects.toBeInstanceOf(WorkflowNotFoundError);
    expect(await engine.list({ namespace: 'brief' })).toEqual([]);
    expect(await engine.count({ namespace: 'brief' })).toBe(0);
    expect((await kept.describe()).status).toBe('Completed');
    expect(await engine.list({ namespace: 'keeps' })).toHaveLength(1);
  });

  it("keeps a newer run of the same workflow id when an older one is deleted", async () => {
    const engine = await openEngine({ timeSkipping: true });
    await withNamespace(engine, 'brief', '1 day');
    const first = await engine.start('greet', { namespace: 'brief', workflowId: 'same', args: ['one'] });
    await first.result();
    const second = await engine.start('approval', { namespace: 'brief', workflowId: 'same' });
    await engine.timeSkipping!.sleep(2 * DAY);

    await expect(engine.getHandle('same', first.runId, { namespace: 'brief' }).describe()).rejects.toBeInstanceOf(WorkflowNotFoundError);
    const latest = engine.getHandle('same', undefined, { namespace: 'brief' });
    expect((await latest.describe()).runId).toBe(second.runId);
    await latest.signal('approve', 'ann');
    await latest.executeUpdate('setLimit', 100);
    expect(await latest.result()).toEqual({ approvedBy: 'ann', limit: 100 });
  });

  it('applies the retention in force when a run closes; a change applies to runs closing later', async () => {
    const engine = await openEngine({ timeSkipping: true });
    await withNamespace(engine, 'ns');
    const before = await engine.start('greet', { namespace: 'ns', workflowId: 'before', args: ['a'] });
    await before.result();
    await engine.namespaces.update('ns', { retention: '1 day' });
    const after = await engine.start('greet', { namespace: 'ns', workflowId: 'after', args: ['b'] });
    await after.result();
    await engine.namespaces.update('ns', { retention: null });
    expect((await engine.namespaces.describe('ns')).retentionMs).toBeUndefined();

    await engine.timeSkipping!.sleep(2 * DAY);
    expect((await before.describe()).status).toBe('Completed');
    await expect(after.describe()).rejects.toBeInstanceOf(WorkflowNotFoundError);
  });

  it('keeps the appointment across a restart', async () => {
    const dataDir = tempDir();
    const first = await Engine.open(withTestStore({ dataDir, logger: silentLogger }));
    // Long enough for the reopened engine to be open (with partition threads too) before it passes.
    await withNamespace(first, 'brief', '3s');
    const handle = await first.start('greet', { namespace: 'brief', workflowId: 'g', args: ['ann'] });
    await handle.result();
    await first.close();

    const second = await openEngine({ dataDir });
    const purged = once(second.events, 'runPurged');
    // Closed before its retention passed: the reopened engine finds the due entry and deletes the run then.
    expect((await second.getHandle('g', undefined, { namespace: 'brief' }).describe()).status).toBe('Completed');
    expect((await purged)[0]).toMatchObject({ namespace: 'brief', workflowId: 'g', runId: handle.runId });
    await expect(second.getHandle('g', undefined, { namespace: 'brief' }).describe()).rejects.toBeInstanceOf(WorkflowNotFoundError);
  });

  it('refuses a retention that is not a duration of at least a second', async () => {
    const engine = await openEngine();
    await expect(engine.namespaces.create('x', { retention: 'soon' })).rejects.toThrow(/retention must be a duration such as '30 days'/);
    await expect(engine.namespaces.create('x', { retention: '10ms' })).rejects.toThrow(/retention must be between 1 second and 100 years/);
    await expect(engine.namespaces.exists('x')).resolves.toBe(false);
  });
});
