import { ClassicLevel } from 'classic-level';
import { MemoryLevel } from 'memory-level';
import { StoreError } from './errors.js';
import type { KvDatabase } from './group-commit.js';
import { KvEventStore } from './kv-event-store.js';
import type { StoredEvent } from './types.js';

export interface LevelDbStoreOptions {
  /** fsync every batch before it is acknowledged (default true). */
  sync?: boolean;
}

/** Opens (creating if needed) the LevelDB store in `dataDir`. One process may hold it at a time. */
export async function openLevelDbStore<E extends StoredEvent = StoredEvent>(
  dataDir: string,
  options: LevelDbStoreOptions = {},
): Promise<KvEventStore<E>> {
  const db = new ClassicLevel<string, Uint8Array>(dataDir, { keyEncoding: 'utf8', valueEncoding: 'view' });
  try {
    await db.open();
  } catch (error) {
    const cause = (error as { cause?: Error }).cause ?? (error as Error);
    throw new StoreError('AION_STORE_IO', `cannot open the data folder ${dataDir}: ${cause.message}`, { cause: error });
  }
  return new KvEventStore<E>(db as unknown as KvDatabase, options);
}

/** An in-memory store with the same semantics, for tests and ephemeral engines. */
export async function openMemoryStore<E extends StoredEvent = StoredEvent>(): Promise<KvEventStore<E>> {
  const db = new MemoryLevel<string, Uint8Array>({ keyEncoding: 'utf8', valueEncoding: 'view' });
  await db.open();
  return new KvEventStore<E>(db as unknown as KvDatabase, { sync: false });
}
