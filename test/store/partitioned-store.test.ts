/**
 * What only a partitioned store does (the conformance suite covers the rest): an effect's
 * write that deletes an outbox entry held by another partition.
 */
import { describe, expect, it } from 'vitest';
import { openMemoryStore, PartitionedEventStore, runIdFor, StoreError, type EventStore, type OutboxEntry, type StoredEvent } from '../../store/index.js';
import { partitionOfWorkflow } from '../../store/partitions.js';

const ev = (eventId: number): StoredEvent => ({ eventId, type: 'Test' });

/** Two workflow ids in different partitions of two. */
function idsInBothPartitions(): [string, string] {
  const ids = Array.from({ length: 20 }, (_, i) => `wf-${i}`);
  const first = ids.find((id) => partitionOfWorkflow('default', id, 2) === 0)!;
  const second = ids.find((id) => partitionOfWorkflow('default', id, 2) === 1)!;
  return [first, second];
}

/** Two memory partitions and a control store; `refuse` makes partition 0 fail every write. */
async function twoPartitions(): Promise<{ store: EventStore; parts: EventStore[]; refuse: (on: boolean) => void }> {
  const [control, ...parts] = await Promise.all([0, 1, 2].map(() => openMemoryStore({ partitions: 1 })));
  let refusing = false;
  const write = parts[0].write.bind(parts[0]);
  parts[0].write = (batch, options) => (refusing ? Promise.reject(new StoreError('AION_STORE_UNAVAILABLE', 'refused for the test')) : write(batch, options));
  return { store: new PartitionedEventStore(control, parts), parts, refuse: (on) => (refusing = on) };
}

describe('a partitioned store', () => {
  it('confirms an effect once its own partition recorded it, and drops the entry a failed deletion left, by its receipt', async () => {
    const { store, parts, refuse } = await twoPartitions();
    const [source, target] = idsInBothPartitions().map((workflowId) => runIdFor('default', workflowId));
    const entry: OutboxEntry = { id: 'effect-1', namespace: 'default', effect: { kind: 'signalExternal' } };
    await store.write({ histories: [{ namespace: 'default', runId: source, events: [ev(1)] }], outbox: { put: [entry] } });
    expect(await parts[0].listOutbox()).toEqual([entry]);
    // The effect lands in partition 1; the entry's partition refuses its deletion.
    refuse(true);
    await store.write({ histories: [{ namespace: 'default', runId: target, events: [ev(1)] }], outbox: { delete: [entry.id] } });
    expect(await store.readHistory('default', target)).toEqual([ev(1)]);
    expect((await parts[1].listControl('outbox-receipt')).map((receipt) => receipt.id)).toEqual([entry.id]);
    refuse(false);
    // The next listing (at open, or once the partition is back) drops the entry and the receipt.
    expect(await store.listOutbox()).toEqual([]);
    expect(await parts[0].listOutbox()).toEqual([]);
    expect(await parts[1].listControl('outbox-receipt')).toEqual([]);
    await store.close();
  });

  it('deletes the entry and its receipt when every partition accepts the writes', async () => {
    const { store, parts } = await twoPartitions();
    const [source, target] = idsInBothPartitions().map((workflowId) => runIdFor('default', workflowId));
    const entry: OutboxEntry = { id: 'effect-2', namespace: 'default', effect: { kind: 'signalExternal' } };
    await store.write({ histories: [{ namespace: 'default', runId: source, events: [ev(1)] }], outbox: { put: [entry] } });
    await store.write({ histories: [{ namespace: 'default', runId: target, events: [ev(1)] }], outbox: { delete: [entry.id] } });
    expect(await parts[0].listOutbox()).toEqual([]);
    expect(await parts[1].listControl('outbox-receipt')).toEqual([]);
    await store.close();
  });

  it('pages through runs newest first when one partition holds most of them', async () => {
    const { store } = await twoPartitions();
    const inPartition = (partition: number) => Array.from({ length: 200 }, (_, i) => `wf-${i}`).filter((id) => partitionOfWorkflow('default', id, 2) === partition);
    // Partition 0 holds the 12 newest runs, partition 1 three older ones and one in between.
    const startTimes = new Map<string, number>([...inPartition(0).slice(0, 12).map((id, i): [string, number] => [id, 2000 + 2 * i]), ...inPartition(1).slice(0, 3).map((id, i): [string, number] => [id, 1000 + i]), [inPartition(1)[3], 2005]]);
    for (const [workflowId, startTime] of startTimes) {
      const record = { namespace: 'default', workflowId, runId: runIdFor('default', workflowId), workflowType: 'order', version: 'v1', taskQueue: 'default', status: 'Running' as const, startTime };
      await store.write({ runs: [{ record }], latestRuns: [{ namespace: 'default', workflowId, runId: record.runId }] });
    }
    const pages: string[][] = [];
    let cursor: string | undefined;
    do {
      const page = await store.scanRuns({ namespace: 'default', pageSize: 5, cursor });
      pages.push(page.runs.map((run) => run.workflowId));
      cursor = page.nextCursor;
    } while (cursor !== undefined);
    const newestFirst = [...startTimes].sort((a, b) => b[1] - a[1]).map(([id]) => id);
    expect(pages.flat()).toEqual(newestFirst);
    expect(pages.slice(0, -1).every((page) => page.length === 5)).toBe(true);
    await store.close();
  });

  it('refuses a list cursor that is not one of its own', async () => {
    const { store } = await twoPartitions();
    const error = (await store.scanRuns({ namespace: 'default', cursor: 'not-a-cursor' }).catch((e: unknown) => e)) as StoreError;
    expect(error.code).toBe('AION_STORE_INVALID_VALUE');
    expect(error.message).toBe("not a cursor of this store's 2 partitions");
    await store.close();
  });
});
