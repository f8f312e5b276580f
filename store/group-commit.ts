import type { AbstractBatchOperation, AbstractBatchOptions, AbstractLevel } from 'abstract-level';

export type KvDatabase = AbstractLevel<Uint8Array | string, string, Uint8Array>;
export type KvOperation = AbstractBatchOperation<KvDatabase, string, Uint8Array>;

interface PendingWrite {
  ops: KvOperation[];
  resolve: () => void;
  reject: (error: unknown) => void;
}

/**
 * Group commit: writes submitted while the database is busy are merged into one batch, so N
 * concurrent activations cost one synced write instead of N. Each submitter's operations stay
 * contiguous inside the merged batch, and LevelDB applies a batch atomically, so each
 * submitter keeps all-or-nothing.
 *
 * Up to `MAX_IN_FLIGHT` batches are written concurrently: while one is being fsynced the
 * next fills up, and LevelDB itself merges concurrent writers. That is safe because no two
 * in-flight batches write the same run: a run awaits each append before its next one.
 */
const MAX_IN_FLIGHT = 2;

export class GroupCommitter {
  private pending: PendingWrite[] = [];
  private readonly writing = new Set<Promise<void>>();
  private flushScheduled = false;

  constructor(
    private readonly db: KvDatabase,
    private readonly sync: boolean,
  ) {}

  /** Writes at once without fsync, outside the groups (ordered after what is committed before it). */
  async writeUnsynced(ops: KvOperation[]): Promise<void> {
    const options: AbstractBatchOptions<string, Uint8Array> & { sync: boolean } = { sync: false };
    await this.db.batch(ops, options);
  }

  submit(ops: KvOperation[]): Promise<void> {
    return new Promise<void>((resolve, reject) => {
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
    const ops = group.length === 1 ? group[0].ops : group.flatMap((write) => write.ops);
    // `sync` is classic-level's option (fsync before acknowledging); memory-level ignores it.
    const options: AbstractBatchOptions<string, Uint8Array> & { sync: boolean } = { sync: this.sync };
    const writing: Promise<void> = this.db.batch(ops, options).then(
      () => {
        for (const write of group) write.resolve();
      },
      (error: unknown) => {
        for (const write of group) write.reject(error);
      },
    );
    this.writing.add(writing);
    void writing.finally(() => {
      this.writing.delete(writing);
      this.flush();
    });
  }
}
