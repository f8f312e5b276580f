/**
 * The host side of durable timers: the due-time index lives in the store; this keeps the
 * entries that come due within a window (10 minutes) in a min-heap and arms one host timer for
 * the earliest. Later entries stay in the store — a million runs parked on hour-long timeouts
 * cost no memory here — and a refill every half window loads the next stretch. Entries that
 * were cancelled meanwhile are simply delivered and ignored by their run.
 *
 * @module
 */
import type { DueEntry } from '../store/types.js';
import { systemClock, type Clock } from './clock.js';

/** Node's timers cannot wait longer than this (a longer delay fires at once); longer waits re-arm. */
export const MAX_TIMEOUT_MS = 2 ** 31 - 1;

/** How far ahead due entries are kept in memory when the engine keeps a window (see the module comment). */
export const DUE_WINDOW_MS = 10 * 60_000;
/** A refill that failed is tried again this soon. */
const REFILL_RETRY_MS = 10_000;

/** The store's due entries up to a time, for a refill. */
export type DueSource = (upTo: number) => Promise<DueEntry[]>;

export class DueTimers {
  private readonly heap: DueEntry[] = [];
  /** Entries due after this are left in the store: the next refill loads them (before the first refill, none is left). */
  private horizon = Number.MAX_SAFE_INTEGER;
  private refillTimer: NodeJS.Timeout | undefined;
  /** Entries in the heap, so that arming one twice (a recovery sweep after a store outage) delivers it once. */
  private readonly armed = new Set<string>();
  /** Entries removed while in the heap: skipped when they come out of it. */
  private readonly removed = new Set<string>();
  private timer: NodeJS.Timeout | undefined;
  private armedFor = Infinity;
  private closed = false;

  constructor(
    private readonly onDue: (entries: DueEntry[]) => void,
    private readonly clock: Clock = systemClock,
    /** Keep only this far ahead in memory; undefined: every entry (time-skipping tests look at them all). */
    private readonly windowMs?: number,
  ) {}

  /**
   * Arms what `source` holds due within the window (everything, without one), and from then on
   * loads the next stretch every half window; entries added beyond the window are left to those
   * loads (whoever adds one has written it to the store first, or retries it within a minute).
   * Resolves with how many entries the load returned. A periodic load that fails is reported to
   * `onError` and tried again soon.
   */
  async refill(source: DueSource, onError: (error: unknown) => void): Promise<number> {
    clearTimeout(this.refillTimer);
    if (this.closed) return 0;
    const horizon = this.windowMs === undefined ? Number.MAX_SAFE_INTEGER : this.clock.now() + this.windowMs;
    // Moved before the load: an entry written while the load runs is kept by `add` if the load misses it.
    this.horizon = horizon;
    const windowMs = this.windowMs;
    const next = (delay: number) => {
      if (windowMs !== undefined && !this.closed) this.refillTimer = setTimeout(() => void this.refill(source, onError).catch(onError), delay);
    };
    let entries: DueEntry[];
    try {
      entries = await source(horizon);
    } catch (error) {
      next(REFILL_RETRY_MS);
      throw error;
    }
    for (const entry of entries) this.add(entry);
    next((windowMs ?? 0) / 2);
    return entries.length;
  }

  /**
   * When the earliest entry that `counts` is due (the time-skipping test environment skips
   * to it). A linear scan: it serves tests, not the hot path.
   */
  nextDueAt(counts: (entry: DueEntry) => boolean = () => true): number | undefined {
    let next: number | undefined;
    for (const entry of this.heap) if (!this.removed.has(dueEntryId(entry)) && counts(entry) && (next === undefined || entry.dueAt < next)) next = entry.dueAt;
    return next;
  }

  /** Forgets an entry its owner deleted (a cancelled timer, a closed run's deadline): it is not delivered. */
  remove(entry: DueEntry): void {
    const id = dueEntryId(entry);
    if (this.armed.has(id)) this.removed.add(id);
  }

  /** Forgets the entries `moved` names (their partition moved to another engine): none of them is delivered. */
  removeWhere(moved: (entry: DueEntry) => boolean): void {
    for (const entry of this.heap) if (moved(entry)) this.removed.add(dueEntryId(entry));
  }

  /** Delivers what is due now and arms for the rest (after the clock moved forward). */
  fireDue(): void {
    this.fire();
  }

  get size(): number {
    return this.heap.length;
  }

  /**
   * Arms `entry`. One the store holds (the usual case) is left to a later refill when it is due
   * beyond the window; one it does not (a delivery's retry) is kept whatever its due time.
   */
  add(entry: DueEntry, options: { inStore: boolean } = { inStore: true }): void {
    const id = dueEntryId(entry);
    if (this.removed.delete(id) || this.closed || this.armed.has(id) || (options.inStore && entry.dueAt > this.horizon)) return;
    this.armed.add(id);
    this.push(entry);
    if (entry.dueAt < this.armedFor) this.arm();
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.refillTimer);
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  private arm(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    const next = this.heap[0];
    this.armedFor = next ? next.dueAt : Infinity;
    if (!next || this.closed) return;
    const delay = Math.min(Math.max(0, next.dueAt - this.clock.now()), MAX_TIMEOUT_MS);
    this.timer = setTimeout(() => this.fire(), delay);
  }

  private fire(): void {
    const now = this.clock.now();
    const due: DueEntry[] = [];
    while (this.heap.length > 0 && this.heap[0].dueAt <= now) {
      const entry = this.pop();
      const id = dueEntryId(entry);
      this.armed.delete(id);
      if (!this.removed.delete(id)) due.push(entry);
    }
    this.arm();
    if (due.length > 0) this.onDue(due);
  }

  private push(entry: DueEntry): void {
    const heap = this.heap;
    heap.push(entry);
    let i = heap.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (heap[parent].dueAt <= heap[i].dueAt) break;
      [heap[parent], heap[i]] = [heap[i], heap[parent]];
      i = parent;
    }
  }

  private pop(): DueEntry {
    const heap = this.heap;
    const top = heap[0];
    const last = heap.pop()!;
    if (heap.length > 0) {
      heap[0] = last;
      let i = 0;
      for (;;) {
        const left = 2 * i + 1;
        const right = left + 1;
        let smallest = i;
        if (left < heap.length && heap[left].dueAt < heap[smallest].dueAt) smallest = left;
        if (right < heap.length && heap[right].dueAt < heap[smallest].dueAt) smallest = right;
        if (smallest === i) break;
        [heap[smallest], heap[i]] = [heap[i], heap[smallest]];
        i = smallest;
      }
    }
    return top;
  }
}

/** An entry's identity: its owner, its key and its due time. */
export const dueEntryId = (entry: DueEntry): string => `${entry.dueAt}\u0000${entry.namespace}\u0000${entry.owner}\u0000${entry.key}`;
