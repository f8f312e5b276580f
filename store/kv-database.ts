import type { AbstractBatchOperation, AbstractBatchOptions, AbstractLevel } from 'abstract-level';

/** The ordered key-value database under a `KvEventStore`: classic-level (LevelDB) or memory-level. */
export type KvDatabase = AbstractLevel<Uint8Array | string, string, Uint8Array>;
export type KvOperation = AbstractBatchOperation<KvDatabase, string, Uint8Array>;
/** `sync` is classic-level's option (fsync before acknowledging); memory-level ignores it. */
export type KvBatchOptions = AbstractBatchOptions<string, Uint8Array> & { sync: boolean };
