import { closeSync, fsyncSync, mkdirSync, openSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { ClassicLevel } from 'classic-level';
import { MemoryLevel } from 'memory-level';
import { CommitLog } from './commit-log.js';
import { StoreError } from './errors.js';
import { assertFolder, lockFolder } from './folder-lock.js';
import type { KvDatabase } from './kv-database.js';
import { KvEventStore, type ReopenedDatabase } from './kv-event-store.js';
import type { StoredEvent } from './types.js';

export interface LevelDbStoreOptions {
  /** fsync every batch before it is acknowledged (default true). */
  sync?: boolean;
  /**
   * Open a folder whose log lost confirmed writes, keeping what survived, instead of refusing
   * it (`onDataLossAccepted` is told what was lost). See docs/operations.md.
   */
  acceptDataLoss?: boolean;
  onDataLossAccepted?: (damage: string) => void;
  /** Told of what weakens the damage check without refusing the folder (see commit-log.ts). */
  onWarning?: (message: string) => void;
}

/** Room a reopen needs before it closes the database: a reopen on a still-full disk would fail after the close. */
const PROBE_BYTES = 1024 * 1024;

/**
 * Opens (creating if needed) the LevelDB store in `dataDir`: locks the folder (one engine
 * per folder, see folder-lock.ts), opens LevelDB and checks its commit log (commit-log.ts).
 */
export async function openLevelDbStore<E extends StoredEvent = StoredEvent>(dataDir: string, options: LevelDbStoreOptions = {}): Promise<KvEventStore<E>> {
  assertFolder(dataDir);
  try {
    mkdirSync(dataDir, { recursive: true });
  } catch (error) {
    throw new StoreError('AION_STORE_IO', `cannot create the data folder ${dataDir}: ${(error as Error).message}`, { cause: error });
  }
  const lock = lockFolder(dataDir);
  const sync = options.sync ?? true;
  // Loss is accepted only at the open the operator asked for, never at a reopen after a failed write.
  const open = async (acceptDataLoss: boolean): Promise<ReopenedDatabase> => {
    const db = await openDatabase(dataDir);
    try {
      const { onDataLossAccepted, onWarning } = options;
      return { db, commits: await CommitLog.open(db, { folder: dataDir, sync, acceptDataLoss, onDataLossAccepted, onWarning }) };
    } catch (error) {
      await db.close();
      throw error;
    }
  };
  try {
    const { db, commits } = await open(options.acceptDataLoss === true);
    return new KvEventStore<E>(db, {
      sync,
      commits,
      lock,
      directBatches: true,
      reopen: async (current) => {
        probeFreeSpace(dataDir);
        await current.close();
        return open(false);
      },
    });
  } catch (error) {
    lock.release();
    throw error;
  }
}

/** An in-memory store with the same semantics, for tests and ephemeral engines. */
export async function openMemoryStore<E extends StoredEvent = StoredEvent>(): Promise<KvEventStore<E>> {
  const db = new MemoryLevel<string, Uint8Array>({ keyEncoding: 'utf8', valueEncoding: 'view' }) as unknown as KvDatabase;
  await db.open();
  return new KvEventStore<E>(db, { sync: false, commits: await CommitLog.open(db, { sync: false }) });
}

async function openDatabase(dataDir: string): Promise<KvDatabase> {
  const db = new ClassicLevel<string, Uint8Array>(dataDir, { keyEncoding: 'utf8', valueEncoding: 'view' });
  try {
    await db.open();
  } catch (error) {
    const cause = (error as { cause?: Error & { code?: string } }).cause ?? (error as Error & { code?: string });
    if (cause.code === 'LEVEL_CORRUPTION') {
      throw new StoreError(
        'AION_STORE_DAMAGED',
        `the data folder ${dataDir} is damaged (LevelDB: ${cause.message}); restore it from a backup`,
        { cause: error },
      );
    }
    throw new StoreError('AION_STORE_IO', `cannot open the data folder ${dataDir}: ${cause.message}`, { cause: error });
  }
  return db as unknown as KvDatabase;
}

/** Throws unless `PROBE_BYTES` can be written and synced in the folder. */
function probeFreeSpace(dataDir: string): void {
  const path = join(dataDir, 'AION-PROBE');
  const fd = openSync(path, 'w');
  try {
    writeSync(fd, Buffer.alloc(PROBE_BYTES));
    fsyncSync(fd);
  } finally {
    closeSync(fd);
    unlinkSync(path);
  }
}
