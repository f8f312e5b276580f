/**
 * A partitioned engine: runs are spread over the folder's partitions by workflow id, each API
 * call reaches the run's partition, run ids name it, lists merge every partition, and a folder
 * keeps the partition count it was created with.
 */
import { describe, expect, it } from 'vitest';
import { Engine } from '../../engine/engine.js';
import { InvalidArgumentError, WorkflowAlreadyStartedError } from '../../engine/errors.js';
import type { HistoryEvent } from '../../engine/history/events.js';
import { StoreError } from '../../store/errors.js';
import { openLevelDbStore, partitionFolder } from '../../store/open.js';
import { partitionOfRun, partitionOfWorkflow } from '../../store/partitions.js';
import { fixtureBundle, silentLogger, tempDir } from '../helpers.js';

describe('partitions', () => {
  it('keeps each run in its workflow id’s partition, where every call finds it', async () => {
    const dataDir = tempDir();
    const engine = await Engine.open({ dataDir, partitions: 4, logger: silentLogger });
    await engine.deploy({ code: await fixtureBundle('workflows.ts') });
    const ids = Array.from({ length: 12 }, (_, i) => `approval-${i}`);
    const handles = await Promise.all(ids.map((workflowId) => engine.start('approval', { workflowId })));
    const runIds = await Promise.all(handles.map(async (handle) => (await handle.describe()).runId));
    // The run ids name the partition of their workflow id, and the ids cover several partitions.
    ids.forEach((workflowId, i) => expect(partitionOfRun(runIds[i], 4)).toBe(partitionOfWorkflow('default', workflowId, 4)));
    expect(new Set(ids.map((workflowId) => partitionOfWorkflow('default', workflowId, 4))).size).toBeGreaterThan(1);
    await expect(engine.start('approval', { workflowId: ids[5] })).rejects.toBeInstanceOf(WorkflowAlreadyStartedError);
    for (const handle of handles.slice(0, 6)) {
      await handle.signal('approve', 'ops');
      expect(await handle.query('status')).toBe('approved by ops');
      await handle.executeUpdate('setLimit', 100);
    }
    expect(await Promise.all(handles.slice(0, 6).map((handle) => handle.result()))).toEqual(handles.slice(0, 6).map(() => ({ approvedBy: 'ops', limit: 100 })));
    expect(await engine.count({ status: 'Running' })).toBe(6);
    await engine.close();

    // Each partition's database holds exactly the runs of its workflow ids.
    for (let partition = 0; partition < 4; partition++) {
      const store = await openLevelDbStore<HistoryEvent>(partitionFolder(dataDir, partition), { partitions: 1 });
      const held = (await store.listRuns({ namespace: 'default' })).map((run) => run.workflowId).sort();
      expect(held).toEqual(ids.filter((workflowId) => partitionOfWorkflow('default', workflowId, 4) === partition).sort());
      await store.close();
    }
  });

  it('lists runs of every partition newest first, page after page', async () => {
    const engine = await Engine.open({ partitions: 8, logger: silentLogger });
    try {
      await engine.deploy({ code: await fixtureBundle('workflows.ts') });
      for (let i = 0; i < 30; i++) await engine.start('approval', { workflowId: `listed-${String(i).padStart(2, '0')}` });
      const seen: string[] = [];
      let nextPageToken: string | undefined;
      do {
        const page = await engine.listPage({ pageSize: 7, nextPageToken });
        seen.push(...page.workflows.map((run) => run.workflowId));
        nextPageToken = page.nextPageToken;
      } while (nextPageToken !== undefined);
      const all = await engine.list();
      expect(seen).toEqual(all.map((run) => run.workflowId));
      expect(new Set(seen).size).toBe(30);
      const times = all.map((run) => run.startTime.getTime());
      expect(times).toEqual([...times].sort((a, b) => b - a));
    } finally {
      await engine.close();
    }
  });

  it('starts children and continue-as-new successors in their own workflow id’s partition', async () => {
    const engine = await Engine.open({ partitions: 16, logger: silentLogger });
    try {
      await engine.deploy({ code: await fixtureBundle('semantics.ts') });
      const parent = await engine.start('level', { args: [3], workflowId: 'levels' });
      expect(await parent.result()).toBe(3);
      const chain = await engine.start('counter', { args: [0, 2, 1], workflowId: 'chain' });
      await chain.result();
      const runs = await engine.list();
      expect(runs.length).toBeGreaterThanOrEqual(7);
      for (const run of runs) expect(partitionOfRun(run.runId, 16)).toBe(partitionOfWorkflow(run.namespace, run.workflowId, 16));
    } finally {
      await engine.close();
    }
  });

  it('reopens a folder with its own partition count and refuses another, naming both', async () => {
    const dataDir = tempDir();
    const first = await Engine.open({ dataDir, partitions: 4, logger: silentLogger });
    await first.deploy({ code: await fixtureBundle('workflows.ts') });
    await first.start('approval', { workflowId: 'kept' });
    await first.close();
    const refused = (await Engine.open({ dataDir, partitions: 16, logger: silentLogger }).catch((e: unknown) => e)) as StoreError;
    expect(refused).toBeInstanceOf(StoreError);
    expect(refused.code).toBe('AION_STORE_LAYOUT');
    expect(refused.message).toContain('was created with 4 partitions and cannot be opened with 16');
    await expect(Engine.open({ partitions: 6, logger: silentLogger })).rejects.toThrow(new InvalidArgumentError('partitions must be a power of two from 1 to 256, got 6'));
    const reopened = await Engine.open({ dataDir, logger: silentLogger });
    try {
      await reopened.getHandle('kept').signal('approve', 'ops');
      await reopened.getHandle('kept').executeUpdate('setLimit', 100);
      expect(await reopened.getHandle('kept').result()).toEqual({ approvedBy: 'ops', limit: 100 });
    } finally {
      await reopened.close();
    }
  });
});
