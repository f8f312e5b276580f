import type { AbstractBatchOperation, AbstractBatchOptions, AbstractLevel } from 'abstract-level';

/** The ordered key-value database under a `KvEventStore`: classic-level (LevelDB) or memory-level. */
export type KvDatabase = AbstractLevel<Uint8Array | string, string, Uint8Array>;
export type KvOperation = AbstractBatchOperation<KvDatabase, string, Uint8Array>;
/** `sync` is classic-level's option (fsync before acknowledging); memory-level ignores it. */
export type KvBatchOptions = AbstractBatchOptions<string, Uint8Array> & { sync: boolean };

/** Writes one batch atomically. */
export type BatchWriter = (ops: KvOperation[], options: KvBatchOptions) => Promise<void>;

/**
 * How a store writes its batches. With `direct`, through the database's implementation method
 * `_batch` (abstract-level's contract for implementations) while it is open: classic-level's
 * takes the store's operations as they are — string keys, byte values, in the database's own
 * formats — and the public `batch` would clone, check and re-encode every operation (about a
 * tenth of the engine thread's time in order3's profile). Not for memory-level, which keeps
 * keys as buffers: it needs the public path's encoding.
 */
export function batchWriter(db: KvDatabase, direct: boolean): BatchWriter {
  if (!direct) return (ops, options) => db.batch(ops, options);
  const implementation = db as unknown as { _batch(ops: KvOperation[], options: KvBatchOptions): Promise<void> };
  return (ops, options) => (db.status === 'open' ? implementation._batch(ops, options) : db.batch(ops, options));
}
