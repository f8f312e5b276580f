import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { openLevelDbStore, StoreError, type EventStore } from '../../store/index.js';
import { eventStoreConformance } from './event-store.case.js';

const dirs = new WeakMap<EventStore, string>();
const openAt = async (dir: string) => {
  const store = await openLevelDbStore(dir);
  dirs.set(store, dir);
  return store;
};

eventStoreConformance({
  name: 'LevelDB',
  open: () => openAt(mkdtempSync(join(tmpdir(), 'aion-store-'))),
  reopen: async (store) => {
    await store.close();
    return openAt(dirs.get(store)!);
  },
});

describe('LevelDB store', () => {
  it('refuses a second process-level open of the same folder with a clear error', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'aion-store-'));
    const store = await openLevelDbStore(dir);
    const error = await openLevelDbStore(dir).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StoreError);
    expect((error as StoreError).message).toContain(dir);
    await store.close();
  });
});
