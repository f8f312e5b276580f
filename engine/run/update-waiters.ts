/**
 * Callers waiting for updates' outcomes, by update id. Several may wait for one update: the
 * caller that sent it, one that sent it again under the same id, one that attached by id.
 *
 * @module
 */
import type { FailureInfo } from '../../common/protocol.js';

/** How an update ended: its result, or its failure (`rejected`: its validator refused it; nothing was recorded). */
export type UpdateOutcome = { ok: true; result: unknown } | { ok: false; failure: FailureInfo; rejected: boolean };

interface Waiter {
  resolve(outcome: UpdateOutcome): void;
  reject(error: unknown): void;
}

export class UpdateWaiters {
  private readonly waiting = new Map<string, Waiter[]>();

  get size(): number {
    return this.waiting.size;
  }

  /**
   * The update's outcome, once `settle` or `reject` gives it. `leave()` stops this waiter
   * waiting (its promise then never settles); `fail(error)` rejects this waiter alone.
   */
  wait(updateId: string): { outcome: Promise<UpdateOutcome>; leave(): void; fail(error: unknown): void } {
    let waiter!: Waiter;
    const outcome = new Promise<UpdateOutcome>((resolve, reject) => (waiter = { resolve, reject }));
    const waiters = this.waiting.get(updateId);
    if (waiters) waiters.push(waiter);
    else this.waiting.set(updateId, [waiter]);
    const leave = () => {
      const others = (this.waiting.get(updateId) ?? []).filter((other) => other !== waiter);
      if (others.length > 0) this.waiting.set(updateId, others);
      else this.waiting.delete(updateId);
    };
    return {
      outcome,
      leave,
      fail: (error) => {
        leave();
        waiter.reject(error);
      },
    };
  }

  settle(updateId: string, outcome: UpdateOutcome): void {
    for (const waiter of this.take(updateId)) waiter.resolve(outcome);
  }

  reject(updateId: string, error: unknown): void {
    for (const waiter of this.take(updateId)) waiter.reject(error);
  }

  /** Gives every waiter `outcome` (the run closed with its updates still running). */
  settleAll(outcome: UpdateOutcome): void {
    for (const updateId of [...this.waiting.keys()]) this.settle(updateId, outcome);
  }

  rejectAll(error: unknown): void {
    for (const updateId of [...this.waiting.keys()]) this.reject(updateId, error);
  }

  private take(updateId: string): Waiter[] {
    const waiters = this.waiting.get(updateId) ?? [];
    this.waiting.delete(updateId);
    return waiters;
  }
}
