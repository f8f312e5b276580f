/**
 * Time skipping, for tests (aion/testing): the engine's clock jumps to the next durable timer
 * whenever nothing is happening — no activation, activity, effect or timer delivery in
 * progress — so a test of a workflow that sleeps for 90 days finishes in milliseconds.
 *
 * @module
 */
import type { ActivityDispatcher } from './activities/dispatcher.js';
import type { SkippingClock } from './clock.js';
import type { DueTimers } from './timers.js';

/** Work in progress in the engine, counted so time is never skipped under it. */
export class WorkCounter {
  private count = 0;

  get busy(): boolean {
    return this.count > 0;
  }

  /** Counts `work` in progress until it settles. */
  track<T>(work: () => Promise<T>): Promise<T> {
    this.count++;
    return work().finally(() => this.count--);
  }
}

/** Event-loop turns the engine must stay idle before time moves (work hands over through promises and I/O callbacks). */
const QUIET_TURNS = 3;
/** How often a wait with no timer left looks again (an outside event — a signal, an activity — may arm one). */
const POLL_MS = 5;

/**
 * What must have stopped before time moves: `all` work, or the engine's own (activations,
 * effects, deliveries) while activities run on — `env.sleep` moves time under a running
 * activity, as Temporal's does (one may even be what called it).
 */
export type SkipBlockers = 'all' | 'engine';

export class TimeSkipper {
  constructor(
    private readonly clock: SkippingClock,
    private readonly timers: DueTimers,
    private readonly activities: ActivityDispatcher,
    private readonly busy: (work: SkipBlockers) => boolean,
  ) {}

  /**
   * The next time something happens: a durable timer, a timeout or a retry's backoff of an
   * activity. Not a failed workflow task's retry: skipping to it would retry a bug in a loop.
   */
  private nextDeadline(): number | undefined {
    const timer = this.timers.nextDueAt((entry) => entry.key !== 'restart');
    const activity = this.activities.nextDeadline();
    return timer === undefined ? activity : activity === undefined ? timer : Math.min(timer, activity);
  }

  /** The engine's time, as workflows see it (epoch ms). */
  now(): number {
    return this.clock.now();
  }

  /** Waits for `until`, skipping time to each next timer whenever the engine is idle. */
  async skipUntil<T>(until: Promise<T>): Promise<T> {
    let done = false;
    const settled = until.then(
      () => void (done = true),
      () => void (done = true),
    );
    while (!done) {
      const skipped = await this.step('all', Infinity, () => done);
      if (!skipped && !done) await Promise.race([settled, delay(POLL_MS)]);
    }
    return until;
  }

  /** Moves time forward by `ms`, firing every timer due on the way (each once the engine is idle). */
  async sleep(ms: number): Promise<void> {
    const target = this.clock.now() + ms;
    while (await this.step('engine', target)) {
      // each step fired what came due at its deadline; its activations ran before the next
    }
    await this.idle('engine');
  }

  /**
   * Once the engine is idle, moves time to the next deadline if it is at most `limit` (true),
   * or else to `limit` if that is finite (false). Concurrent waits and sleeps take steps in
   * turn: the idleness is checked in the same synchronous block as the move, so no step moves
   * time over an activation another step's timer started.
   */
  private async step(blockers: SkipBlockers, limit: number, stop: () => boolean = () => false): Promise<boolean> {
    for (;;) {
      await this.idle(blockers);
      if (stop()) return false;
      if (this.busy(blockers)) continue;
      const next = this.nextDeadline();
      if (next === undefined || next > limit) {
        if (Number.isFinite(limit) && limit > this.clock.now()) this.clock.skipTo(limit);
        return false;
      }
      this.clock.skipTo(next);
      this.timers.fireDue();
      this.activities.catchUp();
      return true;
    }
  }

  /** Resolves once the engine was idle for a few event-loop turns (while busy, it looks again every few ms, not in a spin). */
  private async idle(blockers: SkipBlockers): Promise<void> {
    for (let quiet = 0; quiet < QUIET_TURNS; ) {
      if (this.busy(blockers)) {
        quiet = 0;
        await delay(POLL_MS);
      } else {
        quiet++;
        await new Promise((resolve) => setImmediate(resolve));
      }
    }
  }
}

const delay = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
