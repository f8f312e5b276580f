/**
 * The time the engine records events at and fires durable timers by. The system clock,
 * except in aion/testing's time-skipping environment, which moves it forward.
 *
 * @module
 */

export interface Clock {
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };

/** A clock ahead of the system clock by an offset that only grows (`skip`). */
export class SkippingClock implements Clock {
  private offset = 0;

  now(): number {
    return Date.now() + this.offset;
  }

  /** Moves the clock forward to `time` (never back). */
  skipTo(time: number): void {
    this.offset += Math.max(0, time - this.now());
  }
}
