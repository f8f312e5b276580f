/**
 * When partition threads are restarted: one at a time (a restart rewires the thread with every
 * other one), after a delay that grows while a thread keeps dying soon after it was started —
 * 100 ms, then ×4 up to 30 s — so a thread that cannot live (a module that throws at once)
 * does not take the cores it shares with the others.
 *
 * @module
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from '../logger.js';

const FIRST_DELAY_MS = 100;
const MAX_DELAY_MS = 30_000;
/** A thread that lived this long since it was (re)started starts its delays over. */
const STABLE_MS = 60_000;

export class ThreadSupervisor {
  private queue: Promise<void> = Promise.resolve();
  /** When each thread was last started, and how many times running it died before living `STABLE_MS`. */
  private readonly lives = new Map<number, { startedAt: number; quickDeaths: number }>();
  private readonly stopping = new AbortController();

  constructor(
    private readonly logger: Logger,
    private readonly now: () => number = Date.now,
  ) {}

  /** Thread `thread` was started (at open, or restarted). */
  started(thread: number): void {
    this.lives.set(thread, { startedAt: this.now(), quickDeaths: this.lives.get(thread)?.quickDeaths ?? 0 });
  }

  /** Thread `thread` ended with `exitCode`: `start` starts its replacement, tried again (later) until it succeeds or the supervisor stops. */
  died(thread: number, exitCode: number, start: () => Promise<void>): void {
    this.queue = this.queue.then(async () => {
      for (;;) {
        const delay = this.nextDelay(thread);
        this.logger.error({ thread, exitCode, restartInMs: delay }, `partition thread ${thread} stopped; its partitions are unavailable until it is restarted`);
        await sleep(delay, undefined, { signal: this.stopping.signal }).catch(() => undefined);
        if (this.stopping.signal.aborted) return;
        try {
          await start();
          this.started(thread);
          this.logger.info({ thread }, `partition thread ${thread} restarted; its partitions recovered`);
          return;
        } catch (error) {
          if (this.stopping.signal.aborted) return;
          this.logger.error({ err: error, thread }, `partition thread ${thread} could not be restarted`);
        }
      }
    });
  }

  /** Stops restarting; resolves once a restart under way has ended. */
  async stop(): Promise<void> {
    this.stopping.abort();
    await this.queue;
  }

  private nextDelay(thread: number): number {
    const life = this.lives.get(thread) ?? { startedAt: -Infinity, quickDeaths: 0 };
    const quickDeaths = this.now() - life.startedAt < STABLE_MS ? life.quickDeaths + 1 : 0;
    this.lives.set(thread, { startedAt: this.now(), quickDeaths });
    return Math.min(MAX_DELAY_MS, FIRST_DELAY_MS * 4 ** Math.max(0, quickDeaths - 1));
  }
}
