/** The in-memory side of durable timers: entries a run deleted are neither delivered nor skipped to. */
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
});
