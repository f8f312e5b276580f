/**
 * Finds partition threads that hang: it asks each live thread for a sign of life every
 * quarter of `hangMs`, and a thread that leaves one request unanswered for `hangMs` — its
 * event loop blocked, by a busy loop in an `activitiesModule` function for one — is reported
 * (the caller stops it, and it is restarted as a thread that died is).
 *
 * @module
 */
import type { PortRpc } from './port-rpc.js';
import type { ThreadLinks } from './thread-links.js';

export const DEFAULT_THREAD_HANG_MS = 30_000;

export class ThreadWatchdog {
  /** When each link's unanswered request was sent; `Infinity` once reported. */
  private readonly asked = new WeakMap<PortRpc, number>();
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly links: ThreadLinks,
    private readonly hangMs: number,
    private readonly onHung: (thread: number, silentMs: number) => void,
    private readonly now: () => number = Date.now,
  ) {
    this.timer = setInterval(() => this.check(), Math.max(10, hangMs / 4)).unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  private check(): void {
    this.links.all().forEach((link, thread) => {
      if (link.closed) return;
      const since = this.asked.get(link);
      if (since === undefined) {
        this.asked.set(link, this.now());
        const answered = () => this.asked.get(link) !== Infinity && this.asked.delete(link);
        link.call('ping', []).then(answered, answered);
      } else if (this.now() - since >= this.hangMs) {
        this.asked.set(link, Infinity);
        this.onHung(thread, this.now() - since);
      }
    });
  }
}
