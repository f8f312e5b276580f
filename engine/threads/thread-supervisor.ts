/**
 * When partition threads that died are restarted: one restart at a time (a restart rewires
 * the new threads with every other one), after a delay that grows while a thread keeps dying
 * soon after it was started — 100 ms, then ×4 up to 30 s — so a thread that cannot live (a
 * module that throws at once) does not take the cores it shares with the others. A restart
 * that fails stops its new threads, which are then restarted as threads that died.
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
  /** When each thread was last started, and how many times in a row it died within `STABLE_MS` of that. */
  private readonly lives = new Map<number, { startedAt: number; quickDeaths: number }>();
  private readonly stopping = new AbortController();

  constructor(
    private readonly logger: Logger,
    /** Restarts every thread that died (and is not restarted yet); resolves with their numbers. */
    private readonly restartDead: () => Promise<number[]>,
  ) {}

  /** Thread `thread` was started (at open, or restarted). */
  started(thread: number): void {
    this.lives.set(thread, { startedAt: Date.now(), quickDeaths: this.lives.get(thread)?.quickDeaths ?? 0 });
  }

  /** Thread `thread` ended with `exitCode`: the threads that died are restarted after its delay. */
  died(thread: number, exitCode: number): void {
    const delay = this.nextDelay(thread);
    this.logger.error({ thread, exitCode, restartInMs: delay }, `partition thread ${thread} stopped; its partitions are unavailable until it is restarted`);
    this.restartAfter(thread, delay);
  }

  /** Thread `thread` could not be started: it is tried again after its (longer) delay. */
  retry(thread: number): void {
    const delay = this.nextDelay(thread);
    this.logger.warn({ thread, restartInMs: delay }, `partition thread ${thread} is tried again later`);
    this.restartAfter(thread, delay);
  }

  private restartAfter(thread: number, delay: number): void {
    this.queue = this.queue.then(async () => {
      await sleep(delay, undefined, { signal: this.stopping.signal }).catch(() => undefined);
      if (this.stopping.signal.aborted) return;
      try {
        for (const restarted of await this.restartDead()) this.logger.info({ thread: restarted }, `partition thread ${restarted} restarted; its partitions recovered`);
      } catch (error) {
        if (!this.stopping.signal.aborted) this.logger.error({ err: error, thread }, `partition thread ${thread} could not be restarted`);
      }
    });
  }

  /** No restart starts from now on (one under way goes on: see `idle`). */
  stop(): void {
    this.stopping.abort();
  }

  /** Resolves once no restart is under way. */
  idle(): Promise<void> {
    return this.queue;
  }

  private nextDelay(thread: number): number {
    const life = this.lives.get(thread) ?? { startedAt: -Infinity, quickDeaths: 0 };
    const quickDeaths = Date.now() - life.startedAt < STABLE_MS ? life.quickDeaths + 1 : 0;
    // The next attempt starts about now: a thread that dies again soon counts as a quick death.
    this.lives.set(thread, { startedAt: Date.now(), quickDeaths });
    return Math.min(MAX_DELAY_MS, FIRST_DELAY_MS * 4 ** Math.max(0, quickDeaths - 1));
  }
}
