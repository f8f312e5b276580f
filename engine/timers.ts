/**
 * The host side of durable timers: the due-time index lives in the store; this keeps the
 * entries in a min-heap and arms one host timer for the earliest. Entries that were
 * cancelled meanwhile are simply delivered and ignored by their run.
 *
 * @module
 */
import type { DueEntry } from '../store/types.js';
import { systemClock, type Clock } from './clock.js';

/** Node's timers cannot wait longer than this (a longer delay fires at once); longer waits re-arm. */
export const MAX_TIMEOUT_MS = 2 ** 31 - 1;

export class DueTimers {
  private readonly heap: DueEntry[] = [];
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
  ) {}

  /**
   * When the earliest entry that `counts` is due (the time-skipping test environment skips
   * to it). A linear scan: it serves tests, not the hot path.
   */
  nextDueAt(counts: (entry: DueEntry) => boolean = () => true): number | undefined {
    let next: number | undefined;
    for (const entry of this.heap) if (!this.removed.has(identity(entry)) && counts(entry) && (next === undefined || entry.dueAt < next)) next = entry.dueAt;
    return next;
  }

  /** Forgets an entry its owner deleted (a cancelled timer, a closed run's deadline): it is not delivered. */
  remove(entry: DueEntry): void {
    const id = identity(entry);
    if (this.armed.has(id)) this.removed.add(id);
  }

  /** Delivers what is due now and arms for the rest (after the clock moved forward). */
  fireDue(): void {
    this.fire();
  }

  get size(): number {
    return this.heap.length;
  }

  add(entry: DueEntry): void {
    const id = identity(entry);
    if (this.removed.delete(id) || this.closed || this.armed.has(id)) return;
    this.armed.add(id);
    this.push(entry);
    if (entry.dueAt < this.armedFor) this.arm();
  }

  close(): void {
    this.closed = true;
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
      const id = identity(entry);
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

const identity = (entry: DueEntry): string => `${entry.dueAt}\u0000${entry.namespace}\u0000${entry.owner}\u0000${entry.key}`;
