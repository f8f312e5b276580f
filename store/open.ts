import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, unlinkSync, writeFileSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { ClassicLevel } from 'classic-level';
import { MemoryLevel } from 'memory-level';
import { CommitLog } from './commit-log.js';
import { StoreError } from './errors.js';
import { assertFolder, lockFolder, type FolderLock } from './folder-lock.js';
import { decodeValue } from './codec.js';
import type { KvBatchOptions, KvDatabase, KvOperation } from './kv-database.js';
import { describeKey, keys } from './keys.js';
import { DEFAULT_CACHED_HEADS, KvEventStore, type ReopenedDatabase } from './kv-event-store.js';
import { PartitionedEventStore } from './partitioned-store.js';
import { checkPartitionCount, DEFAULT_PARTITIONS } from './partitions.js';
import type { DueEntry, EventStore, StoredEvent } from './types.js';

export interface LevelDbStoreOptions {
  /**
   * Partitions of a new data folder (a power of two up to 256; default 16). A folder keeps the
   * count it was created with: asking an existing folder for another is refused.
   */
  partitions?: number;
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

/** The file recording a data folder's partition count. */
export const LAYOUT_FILE = 'AION-PARTITIONS';

/** The sub-folder of partition `index` in a data folder of several partitions. */
export const partitionFolder = (dataDir: string, index: number): string => join(dataDir, `p${String(index).padStart(2, '0')}`);

/** Room a reopen needs before it closes the database: a reopen on a still-full disk would fail after the close. */
const PROBE_BYTES = 1024 * 1024;

/**
 * Opens (creating if needed) the LevelDB store in `dataDir`: locks the folder (one engine
 * per folder, see folder-lock.ts), reads or records its partition count, and opens its
 * databases — the folder itself with one partition; `control/` and `p00/`, `p01/`, … with
 * more — each checked against its commit log (commit-log.ts).
 */
export async function openLevelDbStore<E extends StoredEvent = StoredEvent>(dataDir: string, options: LevelDbStoreOptions = {}): Promise<EventStore<E>> {
  const asked = options.partitions === undefined ? undefined : checkPartitionCount(options.partitions);
  createFolder(dataDir);
  const lock = lockFolder(dataDir);
  try {
    const partitions = folderPartitions(dataDir, asked);
    if (partitions === 1) return await openDatabaseStore<E>(dataDir, lock, options, DEFAULT_CACHED_HEADS);
    const opened = await Promise.allSettled(['control' as const, ...Array.from({ length: partitions }, (_, i) => i)].map((part) => openFolderPart<E>(dataDir, part, partitions, options)));
    const failed = opened.find((result) => result.status === 'rejected');
    if (failed) {
      await Promise.all(opened.map((result) => (result.status === 'fulfilled' ? result.value.close() : undefined)));
      throw failed.reason;
    }
    const [control, ...parts] = opened.map((result) => (result as PromiseFulfilledResult<KvEventStore<E>>).value);
    return new PartitionedEventStore<E>(control, parts, { onClose: () => lock.release() });
  } catch (error) {
    lock.release();
    throw error;
  }
}

/**
 * Locks a data folder of several partitions and reads (or, new, records) its partition count,
 * for an engine whose threads open its databases each (`openFolderPart`). Refuses a folder of
 * one database (from before partitions): it cannot be divided.
 */
export function lockPartitionedFolder(dataDir: string, asked?: number): { partitions: number; lock: FolderLock } {
  createFolder(dataDir);
  const lock = lockFolder(dataDir);
  try {
    const partitions = folderPartitions(dataDir, asked === undefined ? undefined : checkPartitionCount(asked));
    if (partitions === 1) throw new StoreError('AION_STORE_LAYOUT', `the data folder ${dataDir} holds one database (it has one partition): it cannot be served by several threads`);
    return { partitions, lock };
  } catch (error) {
    lock.release();
    throw error;
  }
}

/** One database of a data folder of `partitions` partitions, whose folder lock the caller holds: its control store, or partition `part`. */
export async function openFolderPart<E extends StoredEvent = StoredEvent>(dataDir: string, part: 'control' | number, partitions: number, options: LevelDbStoreOptions = {}): Promise<KvEventStore<E>> {
  const folder = part === 'control' ? join(dataDir, 'control') : partitionFolder(dataDir, part);
  createFolder(folder);
  const partLock = lockFolder(folder);
  try {
    return await openDatabaseStore<E>(folder, partLock, labelled(options, basename(folder)), partitionShare(partitions));
  } catch (error) {
    partLock.release();
    throw error;
  }
}

/** The options of one partition's database: what it reports names the partition. */
function labelled(options: LevelDbStoreOptions, name: string): LevelDbStoreOptions {
  const { onDataLossAccepted, onWarning } = options;
  return {
    ...options,
    ...(onDataLossAccepted ? { onDataLossAccepted: (damage: string) => onDataLossAccepted(`${name}/: ${damage}`) } : {}),
    ...(onWarning ? { onWarning: (message: string) => onWarning(`${name}/: ${message}`) } : {}),
  };
}

function createFolder(folder: string): void {
  assertFolder(folder);
  try {
    mkdirSync(folder, { recursive: true });
  } catch (error) {
    throw new StoreError('AION_STORE_IO', `cannot create the data folder ${folder}: ${(error as Error).message}`, { cause: error });
  }
}

/**
 * The folder's partition count: as recorded; 1 for a folder from before partitions (a
 * LevelDB database with no layout file); for a new folder, `asked` (or the default), recorded.
 */
function folderPartitions(dataDir: string, asked: number | undefined): number {
  const path = join(dataDir, LAYOUT_FILE);
  let recorded: number;
  if (existsSync(path)) {
    try {
      recorded = checkPartitionCount((JSON.parse(readFileSync(path, 'utf8')) as { partitions?: unknown }).partitions);
    } catch (error) {
      throw new StoreError('AION_STORE_LAYOUT', `the data folder ${dataDir} has an unreadable ${LAYOUT_FILE} file: ${(error as Error).message}`, { cause: error });
    }
  } else if (existsSync(join(dataDir, 'CURRENT'))) {
    recorded = 1;
  } else if (existsSync(join(dataDir, 'control', 'CURRENT'))) {
    throw new StoreError('AION_STORE_LAYOUT', `the data folder ${dataDir} holds partitions but no ${LAYOUT_FILE} file: restore the file (it records the partition count) from a backup`);
  } else {
    recorded = asked ?? DEFAULT_PARTITIONS;
    writeFileDurably(path, `${JSON.stringify({ partitions: recorded })}\n`);
  }
  if (asked !== undefined && asked !== recorded) {
    throw new StoreError(
      'AION_STORE_LAYOUT',
      `the data folder ${dataDir} was created with ${recorded} partition${recorded === 1 ? '' : 's'} and cannot be opened with ${asked}: a folder keeps its partition count (leave the option out to open it as it is)`,
    );
  }
  return recorded;
}

function writeFileDurably(path: string, content: string): void {
  const temporary = `${path}.tmp`;
  writeFileSync(temporary, content);
  const fd = openSync(temporary, 'r+');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(temporary, path);
  const folder = openSync(dirname(path), 'r');
  try {
    fsyncSync(folder);
  } finally {
    closeSync(folder);
  }
}

/** One LevelDB database in `folder`, which the caller locked: `lock` is released when the store closes (by the caller if this throws). */
async function openDatabaseStore<E extends StoredEvent>(folder: string, lock: FolderLock, options: LevelDbStoreOptions, cachedHeads: number): Promise<KvEventStore<E>> {
  const sync = options.sync ?? true;
  // Loss is accepted only at the open the operator asked for, never at a reopen after a failed write.
  const open = async (acceptDataLoss: boolean): Promise<ReopenedDatabase> => {
    const db = await openDatabase(folder);
    try {
      const { onDataLossAccepted, onWarning } = options;
      return { db, commits: await CommitLog.open(db, { folder, sync, acceptDataLoss, onDataLossAccepted, onWarning }) };
    } catch (error) {
      await db.close();
      throw error;
    }
  };
  const { db, commits } = await open(options.acceptDataLoss === true);
  await rekeyFractionalDueEntries(db, sync);
  return new KvEventStore<E>(db, {
    sync,
    commits,
    lock,
    directBatches: true,
    cachedHeads,
    reopen: async (current) => {
      probeFreeSpace(folder);
      await current.close();
      return open(false);
    },
  });
}

/**
 * Due entries whose time had a fraction of a millisecond were keyed unpadded before keys took
 * the next whole millisecond (keys.ts): they sorted after every other entry, so no read of due
 * entries reached them. Such keys start with a digit other than 0; each is keyed again.
 */
async function rekeyFractionalDueEntries(db: KvDatabase, sync: boolean): Promise<void> {
  const ops: KvOperation[] = [];
  for await (const [key, bytes] of db.iterator({ gte: `${keys.duePrefix()}1`, lt: `${keys.duePrefix()}:` })) {
    const entry = decodeValue<DueEntry>(bytes, () => describeKey(key).printable);
    ops.push({ type: 'del', key }, { type: 'put', key: keys.due(entry.dueAt, entry.namespace, entry.owner, entry.key), value: bytes });
  }
  if (ops.length > 0) await db.batch(ops, { sync } as KvBatchOptions);
}

/** A partition's share of the heads a store keeps in memory. */
const partitionShare = (partitions: number): number => Math.ceil(DEFAULT_CACHED_HEADS / partitions);

/** An in-memory store with the same semantics (and partitions: default 16), for tests and ephemeral engines. */
export async function openMemoryStore<E extends StoredEvent = StoredEvent>(options: { partitions?: number } = {}): Promise<EventStore<E>> {
  const partitions = checkPartitionCount(options.partitions ?? DEFAULT_PARTITIONS);
  if (partitions === 1) return openMemoryPart(1);
  const [control, ...parts] = await Promise.all(Array.from({ length: partitions + 1 }, () => openMemoryPart<E>(partitions)));
  return new PartitionedEventStore<E>(control, parts);
}

/** One in-memory database of a store of `partitions` partitions (its control store, or a partition). */
export async function openMemoryPart<E extends StoredEvent = StoredEvent>(partitions: number): Promise<KvEventStore<E>> {
  const db = new MemoryLevel<string, Uint8Array>({ keyEncoding: 'utf8', valueEncoding: 'view' }) as unknown as KvDatabase;
  await db.open();
  return new KvEventStore<E>(db, { sync: false, commits: await CommitLog.open(db, { sync: false }), cachedHeads: partitionShare(partitions) });
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
