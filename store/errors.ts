/** Stable codes for store failures: callers and tests match on `code`, not on messages. */
export type StoreErrorCode =
  /** An append did not start at the run's next event id: another writer got there first. */
  | 'AION_STORE_CONFLICT'
  /** The store was used after `close()`. */
  | 'AION_STORE_CLOSED'
  /** The underlying database refused or failed a read or a write. */
  | 'AION_STORE_IO';

export class StoreError extends Error {
  override name = 'StoreError';
  constructor(
    readonly code: StoreErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}
