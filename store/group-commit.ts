import type { CommitLog } from './commit-log.js';
import { StoreError } from './errors.js';
import type { KvBatchOptions, KvDatabase, KvOperation } from './kv-database.js';

interface PendingWrite {
  ops: KvOperation[];
  resolve: () => void;
  reject: (error: unknown) => void;
}

/**
 * Group commit: writes submitted while the database is busy are merged into one batch, so N
 * concurrent activations cost one synced write instead of N. Each submitter's operations stay
 * contiguous inside the merged batch, and LevelDB applies a batch atomically, so each
 * submitter keeps all-or-nothing. Each batch carries its commit marker (see commit-log.ts).
 *
 * Up to `MAX_IN_FLIGHT` batches are written concurrently: while one is being fsynced the
 * next fills up, and LevelDB itself merges concurrent writers. That is safe because no two
 * in-flight batches write the same run: a run awaits each append before its next one.
 *
 * **A failed write stops all writing.** After a failed append LevelDB keeps appending behind
 * the torn record, and whatever lands there is dropped as corruption when the log is replayed
 * at the next open. So the first failure fails every write submitted after it, and batches
 * are confirmed in order: one that LevelDB completes after an earlier batch failed is not
 * confirmed either (it may sit behind the torn record). The store must be reopened (which
 * starts a fresh log) before it writes again.
 */
const MAX_IN_FLIGHT = 2;

export class GroupCommitter {
  private pending: PendingWrite[] = [];
  private readonly writing = new Set<Promise<unknown>>();
  private flushScheduled = false;
  /** Whether every batch flushed so far succeeded (batches are confirmed in this order). */
  private previous: Promise<boolean> = Promise.resolve(true);
  private failure: StoreError | undefined;

  constructor(
    private readonly db: KvDatabase,
    private readonly sync: boolean,
    private readonly commits: CommitLog,
    /** Called once, at the first failed write. */
    private readonly onFailure: (error: StoreError) => void,
  ) {}

  /** Set once a write failed: every write is refused with it. */
  get failed(): StoreError | undefined {
    return this.failure;
  }

  /** Writes at once without fsync, outside the groups (ordered after what is committed before it). */
  async writeUnsynced(ops: KvOperation[]): Promise<void> {
    if (this.failure) throw this.failure;
    const options: KvBatchOptions = { sync: false };
    try {
      await this.db.batch(ops, options);
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
      if (this.writing.size < MAX_IN_FLIGHT && !this.flushScheduled) {
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
    while (this.writing.size > 0 || this.pending.length > 0 || this.flushScheduled) {
      if (this.writing.size > 0) await Promise.all(this.writing);
      else await new Promise<void>((resolve) => setImmediate(resolve));
    }
  }

  private flush(): void {
    if (this.writing.size >= MAX_IN_FLIGHT || this.pending.length === 0) return;
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
    const written = this.db.batch(ops, options).then(
      () => true,
      (error: unknown) => {
        this.fail(error);
        return false;
      },
    );
    const before = this.previous;
    const confirmed = written.then(async (ok) => (await before) && ok);
    this.previous = confirmed;
    const settled = confirmed.then((ok) => {
      if (!ok) {
        for (const write of group) write.reject(this.failure);
        return;
      }
      this.commits.confirmed(commit);
      for (const write of group) write.resolve();
    });
    this.writing.add(settled);
    void settled.finally(() => {
      this.writing.delete(settled);
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
