/**
 * Delivery of due entries as they come out of the timers: at most 64 at a time, in due order
 * (thousands overdue after a restart would otherwise queue thousands of store reads ahead of
 * the first run's wake); schedule ticks go at once (they wake no run, and a tick kept waiting
 * could miss its catch-up window). A delivery that fails is retried with backoff. An entry
 * stays in the store until its delivery commits, so a refill of the timers can bring back one
 * still queued, in flight or waiting for its retry: it is not delivered twice.
 *
 * The waiting entries are a plain queue, not a promise each: handing over the 10,000 entries a
 * restart finds overdue costs a few milliseconds, and the first delivery starts at once.
 *
 * @module
 */
import type { DueEntry } from '../store/types.js';
import { retryDelayMs } from './backoff.js';
import type { Clock } from './clock.js';
import { parseDueKey } from './due-keys.js';
import type { Logger } from './logger.js';
import { dueEntryId, type DueTimers } from './timers.js';
import type { WorkCounter } from './time-skipping.js';

const CONCURRENT_DELIVERIES = 64;

/** An entry waiting for a slot, with the id of the entry it delivers (itself, or the one it retries). */
interface Queued {
  entry: DueEntry;
  original: string;
}

export class DueDeliveries {
  /** Entries waiting for a slot, oldest first; `head` is the next one (the array is compacted as it drains). */
  private queue: Queued[] = [];
  private head = 0;
  /** Deliveries holding one of the slots. */
  private active = 0;
  /** Deliveries started and not settled, schedule ticks (which take no slot) included. */
  private busy = 0;
  /** Settles when nothing is queued or in flight: time skipping counts the whole busy stretch as work. */
  private idle: (() => void) | undefined;
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
      if (parseDueKey(entry.key)?.kind === 'schedule') this.start({ entry, original }, false);
      else this.queue.push({ entry, original });
    }
    this.pump();
  }

  private pump(): void {
    while (this.active < CONCURRENT_DELIVERIES && this.head < this.queue.length) {
      this.active++;
      this.start(this.queue[this.head++], true);
    }
    if (this.head === this.queue.length) {
      this.queue = [];
      this.head = 0;
    } else if (this.head > 1024 && this.head * 2 > this.queue.length) {
      this.queue = this.queue.slice(this.head);
      this.head = 0;
    }
    this.settleIdle();
  }

  /** Delivers an entry now; one `holdingSlot` frees its slot when it settles (a schedule tick holds none). */
  private start({ entry, original }: Queued, holdingSlot: boolean): void {
    this.busy++;
    if (this.idle === undefined) void this.parts.work.track(() => new Promise<void>((resolve) => (this.idle = resolve)));
    // Started now; should it throw rather than reject, the promise rejects all the same (and the slot is freed).
    new Promise<void>((resolve) => resolve(this.parts.closed() ? undefined : this.deliverOne(entry)))
      .then(
        () => this.settle(original),
        (error: unknown) => this.retry(entry, original, error),
      )
      .finally(() => {
        this.busy--;
        if (!holdingSlot) return this.settleIdle();
        this.active--;
        this.pump();
      });
  }

  /** Ends the stretch of work time skipping waits for once nothing is queued or in flight. */
  private settleIdle(): void {
    if (this.busy > 0 || this.head < this.queue.length || this.idle === undefined) return;
    const idle = this.idle;
    this.idle = undefined;
    idle();
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
