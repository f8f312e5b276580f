import { MemoryLevel } from 'memory-level';
import { describe, expect, it } from 'vitest';
import { CommitLog } from '../../store/commit-log.js';
import { KvEventStore, openMemoryStore, StoreError } from '../../store/index.js';
import type { KvBatchOptions, KvDatabase, KvOperation } from '../../store/kv-database.js';
import { eventStoreConformance } from './event-store.case.js';

eventStoreConformance({ name: 'in-memory, 1 partition', open: () => openMemoryStore({ partitions: 1 }) });
eventStoreConformance({ name: 'in-memory, 16 partitions', open: () => openMemoryStore() });

describe('a store keeping few heads in memory', () => {
  it('reads a forgotten run\'s next event id from its history, and still refuses an append at the wrong one', async () => {
    const db = new MemoryLevel<string, Uint8Array>({ keyEncoding: 'utf8', valueEncoding: 'view' }) as unknown as KvDatabase;
    await db.open();
    const store = new KvEventStore(db, { sync: false, commits: await CommitLog.open(db, { sync: false }), cachedHeads: 2 });
    const append = (runId: string, eventId: number) => store.write({ histories: [{ namespace: 'default', runId, events: [{ eventId, type: 'Test' }] }] });
    for (const runId of ['r1', 'r2', 'r3']) await append(runId, 1);
    expect(await store.nextEventId('default', 'r1')).toBe(2);
    await expect(append('r1', 3)).rejects.toSatisfy((error) => error instanceof StoreError && error.code === 'AION_STORE_CONFLICT');
    await append('r1', 2);
    await append('r2', 2);
    expect((await store.readHistory('default', 'r1')).map((event) => event.eventId)).toEqual([1, 2]);
    await store.close();
  });

  it('keeps the head of a run whose write is in flight, so a second writer at the same ids is still refused', async () => {
    const db = new MemoryLevel<string, Uint8Array>({ keyEncoding: 'utf8', valueEncoding: 'view' }) as unknown as KvDatabase;
    await db.open();
    // Batches wait for `open()` while `holding`.
    let holding = false;
    let open = () => undefined as void;
    const opened = new Promise<void>((resolve) => (open = resolve));
    const batch = db.batch.bind(db) as (ops: KvOperation[], options: KvBatchOptions) => Promise<void>;
    db.batch = (async (ops: KvOperation[], options: KvBatchOptions) => {
      if (holding) await opened;
      return batch(ops, options);
    }) as unknown as typeof db.batch;
    const store = new KvEventStore(db, { sync: false, commits: await CommitLog.open(db, { sync: false }), cachedHeads: 2 });
    const append = (runId: string, first: number, count = 1) => store.write({ histories: [{ namespace: 'default', runId, events: Array.from({ length: count }, (_, i) => ({ eventId: first + i, type: 'Test' })) }] });
    await append('r1', 1);
    holding = true;
    // r1's events 2 and 3 are in flight while writes of two other runs pass the bound of two heads.
    const inFlight = [append('r1', 2, 2), append('r2', 1), append('r3', 1)];
    await new Promise((resolve) => setImmediate(resolve));
    const second = append('r1', 2);
    open();
    await expect(second).rejects.toSatisfy((error) => error instanceof StoreError && error.code === 'AION_STORE_CONFLICT');
    await Promise.all(inFlight);
    expect((await store.readHistory('default', 'r1')).map((event) => event.eventId)).toEqual([1, 2, 3]);
    await store.close();
  });
});
