/**
 * The next event id of each run a store writes, kept in memory so that an append is checked
 * against it without a read: the one invariant a second writer would break (types.ts). Shared
 * by the stores (kv-event-store.ts, postgres/postgres-event-store.ts); each loads a head it
 * does not hold from its own data.
 *
 * A write pins the heads of its appends, loads the missing ones, then reserves them — checks
 * and advances them in one synchronous step — and, if it is not confirmed, forgets them (they
 * are loaded again from what the store holds). At most `bound` heads are kept: the least
 * recently written beyond it are forgotten, never one a write in flight pinned (read again
 * from the data, it would miss that write's events and let a second writer's append at the
 * same ids through).
 *
 * @module
 */
import { StoreError } from './errors.js';
import type { HistoryAppend, StoredEvent, WriteBatch } from './types.js';

/** The key of a run's head. */
export const headKey = (namespace: string, runId: string): string => `${namespace}\u0000${runId}`;

export class HistoryHeads {
  /** Next event id by run; map order is recency (a written head is re-inserted last). */
  private readonly heads = new Map<string, number>();
  /** Heads of runs with a write in flight (how many), which eviction skips. */
  private readonly pinned = new Map<string, number>();

  constructor(private readonly bound: number) {}

  get(namespace: string, runId: string): number | undefined {
    return this.heads.get(headKey(namespace, runId));
  }

  /**
   * Runs `write` with the heads of `appends` pinned and loaded (`load` reads a head the store
   * does not hold; a run the batch creates has none to read).
   */
  async whilePinned<T>(batch: WriteBatch<StoredEvent>, appends: HistoryAppend[], load: (namespace: string, runId: string) => Promise<number>, write: () => Promise<T>): Promise<T> {
    const keys = [...new Set(appends.map((append) => headKey(append.namespace, append.runId)))];
    for (const key of keys) this.pinned.set(key, (this.pinned.get(key) ?? 0) + 1);
    try {
      const created = new Set((batch.runs ?? []).filter((run) => run.previousStatus === undefined).map((run) => headKey(run.record.namespace, run.record.runId)));
      for (const append of appends) {
        const key = headKey(append.namespace, append.runId);
        if (this.heads.has(key)) continue;
        const next = created.has(key) ? 1 : await load(append.namespace, append.runId);
        // Another write may have reserved this head while it loaded: its reservation stands.
        if (!this.heads.has(key)) this.heads.set(key, next);
      }
      return await write();
    } finally {
      for (const key of keys) {
        const count = this.pinned.get(key)! - 1;
        if (count === 0) this.pinned.delete(key);
        else this.pinned.set(key, count);
      }
    }
  }

  /**
   * Checks that each append starts at its run's next event id and advances the heads, in one
   * synchronous step (`AION_STORE_CONFLICT` otherwise, reserving nothing). Returns the keys
   * reserved, for `forget` if the write is not confirmed.
   */
  reserve(appends: HistoryAppend[]): string[] {
    const reserved = new Map<string, number>();
    for (const append of appends) {
      const key = headKey(append.namespace, append.runId);
      const next = reserved.get(key) ?? this.heads.get(key);
      // Gone only if another write of this run failed meanwhile (its reservation is forgotten).
      if (next === undefined) throw new StoreError('AION_STORE_UNAVAILABLE', `a write to run ${append.runId} failed meanwhile; nothing was written, try again`);
      append.events.forEach((event, i) => {
        if (event.eventId !== next + i) {
          throw new StoreError('AION_STORE_CONFLICT', `append to run ${append.runId} expected event id ${next + i} but got ${event.eventId}: another writer appended first`);
        }
      });
      reserved.set(key, next + append.events.length);
    }
    for (const [key, next] of reserved) {
      this.heads.delete(key);
      this.heads.set(key, next);
    }
    this.evict();
    return [...reserved.keys()];
  }

  forget(keys: Iterable<string>): void {
    for (const key of keys) this.heads.delete(key);
  }

  clear(): void {
    this.heads.clear();
  }

  /** Forgets the heads of the runs `moved` names (their partition moved to another engine, which appends to them meanwhile). */
  forgetRuns(moved: (runId: string) => boolean): void {
    for (const key of this.heads.keys()) if (moved(key.slice(key.indexOf('\u0000') + 1))) this.heads.delete(key);
  }

  private evict(): void {
    for (const key of this.heads.keys()) {
      if (this.heads.size <= this.bound) return;
      if (!this.pinned.has(key)) this.heads.delete(key);
    }
  }
}
