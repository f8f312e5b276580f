import type { CommitLog } from './commit-log.js';
import { StoreError } from './errors.js';
import { batchWriter, type BatchWriter, type KvBatchOptions, type KvDatabase, type KvOperation } from './kv-database.js';

interface PendingWrite {
  ops: KvOperation[];
  resolve: () => void;
  reject: (error: unknown) => void;
}

/**
 * Group commit: writes submitted while a batch is being written are merged into the next
 * batch, so N concurrent activations cost one synced write instead of N. Each submitter's
 * operations stay contiguous inside the merged batch, and LevelDB applies a batch atomically,
 * so each submitter keeps all-or-nothing. Each batch carries its commit marker (see
 * commit-log.ts).
 *
 * One batch is written at a time, so batches are applied and confirmed in the order they
 * were submitted (measured: a second batch in flight did not raise throughput).
 *
 * **A failed write stops all writing.** After a failed append LevelDB keeps appending behind
 * the torn record, and whatever lands there is dropped as corruption when the log is replayed
 * at the next open. So the first failure fails every write submitted after it, and nothing is
 * written until the store has been reopened (which starts a fresh log).
 */
export class GroupCommitter {
  private pending: PendingWrite[] = [];
  private writing: Promise<void> | undefined;
  private flushScheduled = false;
  private failure: StoreError | undefined;
  private readonly write: BatchWriter;

  constructor(
    db: KvDatabase,
    /** Write through the database's implementation (see `batchWriter`). */
    directBatches: boolean,
    private readonly sync: boolean,
    private readonly commits: CommitLog,
    /** Called once, at the first failed write. */
    private readonly onFailure: (error: StoreError) => void,
  ) {
    this.write = batchWriter(db, directBatches);
  }

  /** Set once a write failed: every write is refused with it. */
  get failed(): StoreError | undefined {
    return this.failure;
  }

  /** Writes at once without fsync, outside the groups (ordered after what is committed before it). */
  async writeUnsynced(ops: KvOperation[]): Promise<void> {
    if (this.failure) throw this.failure;
    const options: KvBatchOptions = { sync: false };
    try {
      await this.write(ops, options);
    } catch (error) {
      throw this.fail(error);
    }
  }

  submit(ops: KvOperation[]): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      if (this.failure) {
        reject(this.failure);
        return;
      }
      this.pending.push({ ops, resolve, reject });
      if (!this.writing && !this.flushScheduled) {
        this.flushScheduled = true;
        // Let the writes issued in this same tick join the first batch.
        queueMicrotask(() => {
          this.flushScheduled = false;
          this.flush();
        });
      }
    });
  }

  /** Resolves once every write submitted so far has been committed or has failed. */
  async drain(): Promise<void> {
    while (this.writing || this.pending.length > 0 || this.flushScheduled) {
      if (this.writing) await this.writing;
      else await new Promise<void>((resolve) => setImmediate(resolve));
    }
  }

  private flush(): void {
    if (this.writing || this.pending.length === 0) return;
    const group = this.pending;
    this.pending = [];
    if (this.failure) {
      for (const write of group) write.reject(this.failure);
      return;
    }
    const { commit, op } = this.commits.next();
    const ops = group.length === 1 ? group[0].ops : group.flatMap((write) => write.ops);
    if (op) ops.push(op);
    const options: KvBatchOptions = { sync: this.sync };
    this.writing = this.write(ops, options).then(
      () => {
        // An unsynced write failed while this batch was written: it may sit behind that torn record.
        if (this.failure) {
          for (const write of group) write.reject(this.failure);
          return;
        }
        this.commits.confirmed(commit);
        for (const write of group) write.resolve();
      },
      (error: unknown) => {
        const failure = this.fail(error);
        for (const write of group) write.reject(failure);
      },
    );
    void this.writing.finally(() => {
      this.writing = undefined;
      this.flush();
    });
  }

  /** Records the first failure (and stops all writing); returns the error callers get. */
  private fail(cause: unknown): StoreError {
    if (!this.failure) {
      const reason = cause instanceof Error ? cause.message : String(cause);
      this.failure = new StoreError('AION_STORE_UNAVAILABLE', `a write to the store failed (${reason}); writes are refused until the store has been reopened and checked`, {
        cause,
      });
      for (const write of this.pending.splice(0)) write.reject(this.failure);
      this.onFailure(this.failure);
    }
    return this.failure;
  }
}
