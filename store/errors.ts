/** Stable codes for store failures: callers and tests match on `code`, not on messages. */
export type StoreErrorCode =
  /** An append did not start at the run's next event id: another writer got there first. */
  | 'AION_STORE_CONFLICT'
  /** The store was used after `close()`. */
  | 'AION_STORE_CLOSED'
  /** The underlying database refused or failed a read. */
  | 'AION_STORE_IO'
  /**
   * A write failed (disk full, an I/O error): the store refuses every write until it has
   * been reopened and verified, which it retries on its own. Nothing of the failed write was
   * confirmed.
   */
  | 'AION_STORE_UNAVAILABLE'
  /** A record does not read back as it was written (checksum mismatch, truncated, unreadable). */
  | 'AION_STORE_CORRUPT'
  /** The data folder's log lost records that were confirmed: the store refuses to open. */
  | 'AION_STORE_DAMAGED'
  /** The data folder (or PostgreSQL schema) is held by another engine (in this process or another one). */
  | 'AION_STORE_LOCKED'
  /**
   * The engine lost the lease of a partition the write touches (PostgreSQL: another engine took
   * it over): nothing was written, and the store refuses writes from then on.
   */
  | 'AION_STORE_FENCED'
  /**
   * The write is for a partition this engine does not serve (any more: it moved to another
   * engine of the cluster): nothing was written; the partition's engine takes such calls.
   */
  | 'AION_STORE_PARTITION_MOVED'
  /** A value given to `write` cannot be encoded (not JSON-shaped): nothing was written. */
  | 'AION_STORE_INVALID_VALUE'
  /** The data folder was created with another partition count than the one asked for (or its layout file is unreadable). */
  | 'AION_STORE_LAYOUT';

export class StoreError extends Error {
  override name = 'StoreError';
  /** `AION_STORE_PARTITION_MOVED`: the partition the write was refused for (-1: the control plane). */
  readonly partition?: number;
  constructor(
    readonly code: StoreErrorCode,
    message: string,
    options?: { cause?: unknown; partition?: number },
  ) {
    super(message, options);
    if (options?.partition !== undefined) this.partition = options.partition;
  }
}
