/**
 * The engine calls with the other threads of a threaded engine, one `PortRpc` per thread.
 * A partition thread that dies is restarted with new ports (partition-threads.ts): its link
 * is replaced then — first as *opening* (its engine is recovering: calls on it wait for
 * that), then live — and a caller that met the dead one can wait until the replacement is
 * live (`whenLive`) instead of failing: what a `result()` waiting across the restart does.
 *
 * @module
 */
import { EngineClosedError } from '../errors.js';
import type { PortRpc } from './port-rpc.js';

export class ThreadLinks {
  private readonly links = new Map<number, PortRpc>();
  /** Links to restarted threads whose engine is not open yet. */
  private readonly opening = new Set<PortRpc>();
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

  /** The threads whose link is open and whose engine is open now. */
  live(): PortRpc[] {
    return this.all().filter((link) => !link.closed && !this.opening.has(link));
  }

  /** Sets (or, for a restarted thread, replaces) the link to `thread`: live at once, or `opening` until `opened`. */
  set(thread: number, link: PortRpc, { opening = false } = {}): void {
    this.opening.delete(this.links.get(thread)!);
    this.links.set(thread, link);
    if (opening) this.opening.add(link);
    else this.wake(thread);
  }

  /** The engine of restarted thread `thread` is open: its link is live, and whoever waits for it is released. */
  opened(thread: number): void {
    this.opening.delete(this.get(thread));
    this.wake(thread);
  }

  private wake(thread: number): void {
    for (const wake of this.waiting.get(thread) ?? []) wake();
    this.waiting.delete(thread);
  }

  /** Resolves at once while `thread`'s link is live, else once its replacement is; rejects once the engine closes. */
  whenLive(thread: number): Promise<void> {
    if (this.closedWith !== undefined) return Promise.reject(this.closedWith);
    const link = this.get(thread);
    if (!link.closed && !this.opening.has(link)) return Promise.resolve();
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

/** A call's answer, or `otherwise` when the thread asked died meanwhile. */
export async function unlessGone<T>(thread: PortRpc, call: Promise<T>, otherwise: T): Promise<T> {
  try {
    return await call;
  } catch (error) {
    if (thread.closed) return otherwise;
    throw error;
  }
}
