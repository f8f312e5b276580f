/**
 * The in-memory side of durable timers: entries a run deleted are neither delivered nor skipped
 * to; only a window of entries is kept in memory, the rest loaded from the store as it nears.
 */
import { describe, expect, it } from 'vitest';
import { SkippingClock } from '../../engine/clock.js';
import { DueTimers } from '../../engine/timers.js';
import type { DueEntry } from '../../store/types.js';

describe('DueTimers', () => {
  it('forgets a removed entry: not the next due time, not delivered when its time comes', () => {
    const clock = new SkippingClock();
    const delivered: DueEntry[][] = [];
    const timers = new DueTimers((entries) => delivered.push(entries), clock);
    const now = clock.now();
    const cancelled: DueEntry = { dueAt: now + 1000, namespace: 'default', owner: 'run-1', key: 'timer:1' };
    const live: DueEntry = { dueAt: now + 2000, namespace: 'default', owner: 'run-2', key: 'timer:1' };
    timers.add(cancelled);
    timers.add(live);
    timers.remove(cancelled);
    expect(timers.nextDueAt()).toBe(live.dueAt);
    clock.skipTo(live.dueAt);
    timers.fireDue();
    expect(delivered).toEqual([[live]]);
    expect(timers.nextDueAt()).toBeUndefined();
    timers.close();
  });

  it('keeps only the entries due within its window; a refill loads the next stretch, and keeps what is added while it loads', async () => {
    const clock = new SkippingClock();
    const now = clock.now();
    const entry = (owner: string, at: number): DueEntry => ({ dueAt: now + at, namespace: 'default', owner, key: 'timeout' });
    // What the store holds: every entry is written there before it is added.
    const stored = [entry('soon', 500), entry('later', 5_000), entry('much-later', 20_000)];
    const hooks: { duringLoad?: () => void } = {};
    const source = async (upTo: number) => {
      hooks.duringLoad?.();
      return stored.filter((e) => e.dueAt <= upTo);
    };
    const delivered: string[] = [];
    const timers = new DueTimers((entries) => delivered.push(...entries.map((e) => e.owner)), clock, 1_000);
    expect(await timers.refill(source, () => undefined)).toBe(1);
    expect(timers.size).toBe(1);
    // Added beyond the window: left to the store (and to the refill that will near it).
    stored.push(entry('added', 3_000));
    timers.add(stored.at(-1)!);
    expect(timers.size).toBe(1);

    clock.skipTo(now + 4_500);
    // Written while the refill loads, and missed by it: kept, since it falls within the new window.
    hooks.duringLoad = () => timers.add(entry('raced', 5_200));
    await timers.refill(source, () => undefined);
    expect(timers.size).toBe(4); // soon, added, later, raced
    clock.skipTo(now + 5_200);
    timers.fireDue();
    expect(delivered).toEqual(['soon', 'added', 'later', 'raced']);
    expect(timers.size).toBe(0);
    timers.close();
  });
});
