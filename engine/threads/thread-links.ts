/**
 * The engine calls with the other threads of a threaded engine, one `PortRpc` per thread.
 * A partition thread that dies is restarted with new ports (partition-threads.ts): its link
 * is replaced then, and a caller that met the dead one can wait for the replacement
 * (`whenLive`) instead of failing — what a `result()` waiting across the restart does.
 *
 * @module
 */
import { EngineClosedError } from '../errors.js';
import type { PortRpc } from './port-rpc.js';

export class ThreadLinks {
  private readonly links = new Map<number, PortRpc>();
  /** Waiters for a thread's next link, by thread. */
  private readonly waiting = new Map<number, (() => void)[]>();
  private closedWith: Error | undefined;

  /** The link to `thread` (closed while the thread is being restarted). */
  get(thread: number): PortRpc {
    const link = this.links.get(thread);
    if (link === undefined) throw new Error(`no thread ${thread}`);
    return link;
  }

  /** Every thread's link, by thread number. */
  all(): PortRpc[] {
    return [...this.links.keys()].sort((a, b) => a - b).map((thread) => this.links.get(thread)!);
  }

  /** The threads whose link is open now. */
  live(): PortRpc[] {
    return this.all().filter((link) => !link.closed);
  }

  /** Sets (or, for a restarted thread, replaces) the link to `thread`, releasing whoever waits for it. */
  set(thread: number, link: PortRpc): void {
    this.links.set(thread, link);
    for (const wake of this.waiting.get(thread) ?? []) wake();
    this.waiting.delete(thread);
  }

  /** Resolves at once while `thread`'s link is open, else once it is replaced; rejects once the engine closes. */
  whenLive(thread: number): Promise<void> {
    if (this.closedWith !== undefined) return Promise.reject(this.closedWith);
    if (!this.get(thread).closed) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const waiters = this.waiting.get(thread) ?? [];
      this.waiting.set(thread, waiters);
      waiters.push(() => (this.closedWith === undefined ? resolve() : reject(this.closedWith)));
    });
  }

  /** Closes every link; whoever waits for a replacement gets `EngineClosedError`. */
  close(): void {
    this.closedWith = new EngineClosedError();
    for (const link of this.links.values()) link.close(this.closedWith);
    for (const waiters of this.waiting.values()) for (const wake of waiters) wake();
    this.waiting.clear();
  }
}
