/**
 * Delivery of due entries: at most 64 at a time in due order, schedule ticks at once; an entry
 * a refill brings back from the store while it is queued, in flight or waiting for its retry is
 * not delivered again; a failed delivery is retried.
 */
import { describe, expect, it } from 'vitest';
import { SkippingClock } from '../../engine/clock.js';
import { DueDeliveries } from '../../engine/due-deliveries.js';
import { WorkCounter } from '../../engine/time-skipping.js';
import { DueTimers } from '../../engine/timers.js';
import type { DueEntry } from '../../store/types.js';
import { silentLogger } from '../helpers.js';

describe('due deliveries', () => {
  it('deliver an entry once while it is in flight or waiting for its retry, and retry a failed one', async () => {
    const clock = new SkippingClock();
    const calls: DueEntry[] = [];
    const outcomes: { resolve(): void; reject(error: Error): void }[] = [];
    const deliverOne = (entry: DueEntry) => {
      calls.push(entry);
      return new Promise<void>((resolve, reject) => outcomes.push({ resolve, reject }));
    };
    // A window far shorter than a retry's backoff: the retry, which the store does not hold, is kept all the same.
    const timers = new DueTimers((entries) => deliveries.deliver(entries), clock, 100);
    await timers.refill(async () => [], () => undefined);
    const deliveries = new DueDeliveries(deliverOne, { timers, work: new WorkCounter(), clock, logger: silentLogger, store: { unavailable: undefined }, closed: () => false });
    const settled = () => new Promise((resolve) => setImmediate(resolve));
    const entry: DueEntry = { dueAt: clock.now(), namespace: 'default', owner: 'run-1', key: 'timer:1' };

    deliveries.deliver([entry]);
    await settled();
    deliveries.deliver([entry]); // a refill read it again: it is still in the store
    await settled();
    expect(calls).toHaveLength(1);

    outcomes[0].reject(new Error('the store said no'));
    await settled();
    deliveries.deliver([entry]); // read again while its retry waits
    await settled();
    expect(calls).toHaveLength(1);
    expect(timers.nextDueAt()).toBeGreaterThan(entry.dueAt);

    clock.skipTo(timers.nextDueAt()!);
    timers.fireDue();
    await settled();
    expect(calls.map((call) => call.owner)).toEqual(['run-1', 'run-1']);
    outcomes[1].resolve();
    timers.close();
  });

  it('deliver a backlog 64 at a time in due order, a schedule tick at once, and count the backlog as work until the last settles', async () => {
    const clock = new SkippingClock();
    const work = new WorkCounter();
    const timers = new DueTimers(() => undefined, clock);
    const calls: string[] = [];
    const finish = new Map<string, () => void>();
    const deliverOne = (entry: DueEntry) => {
      calls.push(entry.owner);
      return new Promise<void>((resolve) => finish.set(entry.owner, resolve));
    };
    const deliveries = new DueDeliveries(deliverOne, { timers, work, clock, logger: silentLogger, store: { unavailable: undefined }, closed: () => false });
    const settled = () => new Promise((resolve) => setImmediate(resolve));
    const backlog: DueEntry[] = Array.from({ length: 200 }, (_, i) => ({ dueAt: clock.now() - 200 + i, namespace: 'default', owner: `run-${i}`, key: 'timer:1' }));

    deliveries.deliver(backlog);
    expect(calls).toEqual(backlog.slice(0, 64).map((entry) => entry.owner));
    expect(work.busy).toBe(true);

    deliveries.deliver([{ dueAt: clock.now(), namespace: 'default', owner: 'schedule-1', key: 'schedule' }]);
    expect(calls.at(-1)).toBe('schedule-1');

    finish.get('run-0')!();
    await settled();
    expect(calls.slice(65)).toEqual(['run-64']);

    for (let round = 0; round < 250 && finish.size > 0; round++) {
      expect(work.busy).toBe(true);
      for (const [owner, resolve] of [...finish]) {
        finish.delete(owner);
        resolve();
      }
      await settled();
    }
    expect(calls.filter((owner) => owner.startsWith('run-'))).toEqual(backlog.map((entry) => entry.owner));
    expect(work.busy).toBe(false);

    // A later entry is work again until it settles.
    deliveries.deliver([{ dueAt: clock.now(), namespace: 'default', owner: 'run-later', key: 'timer:1' }]);
    expect(work.busy).toBe(true);
    finish.get('run-later')!();
    await settled();
    expect(work.busy).toBe(false);
  });
});
