/**
 * Delivery of due entries as they come out of the timers: at most 64 at a time, in due order
 * (thousands overdue after a restart would otherwise queue thousands of store reads ahead of
 * the first run's wake); schedule ticks go at once (they wake no run, and a tick kept waiting
 * could miss its catch-up window). A delivery that fails is retried with backoff. An entry
 * stays in the store until its delivery commits, so a refill of the timers can bring back one
 * still queued, in flight or waiting for its retry: it is not delivered twice.
 *
 * @module
 */
import pLimit from 'p-limit';
import type { DueEntry } from '../store/types.js';
import { retryDelayMs } from './backoff.js';
import type { Clock } from './clock.js';
import { parseDueKey } from './due-keys.js';
import type { Logger } from './logger.js';
import { dueEntryId, type DueTimers } from './timers.js';
import type { WorkCounter } from './time-skipping.js';

const CONCURRENT_DELIVERIES = 64;

export class DueDeliveries {
  private readonly slots = pLimit(CONCURRENT_DELIVERIES);
  /** Entries (by id, due time included) queued, being delivered, or waiting for a retry. */
  private readonly pending = new Set<string>();
  /** A retry's entry (its own due time) → the entry it retries. */
  private readonly retryOf = new Map<string, string>();
  /** Failed attempts per entry, for the backoff. */
  private readonly attempts = new Map<string, number>();

  constructor(
    private readonly deliverOne: (entry: DueEntry) => Promise<void>,
    private readonly parts: {
      timers: DueTimers;
      work: WorkCounter;
      clock: Clock;
      logger: Logger;
      /** While the store refuses writes nothing retries: the recovery sweep when it is back re-arms the entries. */
      store: { readonly unavailable: unknown };
      closed: () => boolean;
    },
  ) {}

  deliver(entries: DueEntry[]): void {
    for (const entry of entries) {
      const id = dueEntryId(entry);
      const retried = this.retryOf.get(id);
      this.retryOf.delete(id);
      if (retried === undefined && this.pending.has(id)) continue; // brought back by a refill
      const original = retried ?? id;
      this.pending.add(original);
      const run = () => (this.parts.closed() ? Promise.resolve() : this.deliverOne(entry));
      const limited = parseDueKey(entry.key)?.kind === 'schedule' ? run() : this.slots(run);
      // Counted as work from now, waiting included: time skipping must not move past a queued delivery.
      this.parts.work
        .track(() => limited)
        .then(
          () => this.settle(original),
          (error: unknown) => this.retry(entry, original, error),
        );
    }
  }

  private settle(original: string): void {
    this.pending.delete(original);
    this.attempts.delete(original);
  }

  private retry(entry: DueEntry, original: string, error: unknown): void {
    if (this.parts.closed()) return;
    const attempt = (this.attempts.get(original) ?? 0) + 1;
    const delay = retryDelayMs(this.parts.store, attempt);
    this.parts.logger.warn({ err: error, owner: entry.owner, key: entry.key, retryInMs: delay }, 'could not deliver a due entry');
    if (delay === undefined) return this.settle(original);
    this.attempts.set(original, attempt);
    const again = { ...entry, dueAt: this.parts.clock.now() + delay };
    this.retryOf.set(dueEntryId(again), original);
    this.parts.timers.add(again, { inStore: false });
  }
}
