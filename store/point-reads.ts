/**
 * Point reads of one database, coalesced under load the way group commit coalesces writes: a
 * read goes out at once while fewer than `maxInFlight` are out; beyond that, reads queue and go
 * out together as one `getMany` when one returns. After a restart thousands of clients asking
 * for their runs at once would otherwise queue thousands of separate reads in libuv's four
 * threads, ahead of the reads that wake the runs.
 *
 * @module
 */
import type { KvDatabase } from './kv-database.js';

interface QueuedRead {
  key: string;
  resolve(value: Uint8Array | undefined): void;
  reject(error: unknown): void;
}

export class PointReads {
  private inFlight = 0;
  private queue: QueuedRead[] = [];

  constructor(
    /** The database now (a store reopens its database after a failed write). */
    private readonly db: () => KvDatabase,
    private readonly maxInFlight = 2,
  ) {}

  get(key: string): Promise<Uint8Array | undefined> {
    return new Promise((resolve, reject) => {
      this.queue.push({ key, resolve, reject });
      if (this.inFlight < this.maxInFlight) this.send();
    });
  }

  private send(): void {
    const reads = this.queue;
    this.queue = [];
    this.inFlight++;
    const db = this.db();
    const values = reads.length === 1 ? db.get(reads[0].key).then((value) => [value]) : db.getMany(reads.map((read) => read.key));
    values
      .then(
        (found) => reads.forEach((read, i) => read.resolve(found[i])),
        (error: unknown) => reads.forEach((read) => read.reject(error)),
      )
      .finally(() => {
        this.inFlight--;
        if (this.queue.length > 0) this.send();
      });
  }
}
