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
  private readonly asked = new Map<PortRpc, number>();
  private readonly timer: NodeJS.Timeout;
  private readonly intervalMs: number;
  private lastCheck: number;

  constructor(
    private readonly links: ThreadLinks,
    private readonly hangMs: number,
    private readonly onHung: (thread: number, silentMs: number) => void,
  ) {
    this.intervalMs = Math.max(10, hangMs / 4);
    this.lastCheck = Date.now();
    this.timer = setInterval(() => this.check(), this.intervalMs).unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  private check(): void {
    // This thread was blocked itself (answers may be waiting unread): the silence is counted from now.
    const late = Date.now() - this.lastCheck > 2 * this.intervalMs;
    this.lastCheck = Date.now();
    if (late) for (const [link, since] of this.asked) if (since !== Infinity) this.asked.set(link, this.lastCheck);
    const links = this.links.all();
    // Links replaced since (their thread was restarted) are forgotten.
    for (const link of this.asked.keys()) if (!links.includes(link)) this.asked.delete(link);
    links.forEach((link, thread) => {
      if (link.closed) return;
      const since = this.asked.get(link);
      if (since === undefined) {
        this.asked.set(link, Date.now());
        const answered = () => this.asked.get(link) !== Infinity && this.asked.delete(link);
        link.call('ping', []).then(answered, answered);
      } else if (Date.now() - since >= this.hangMs) {
        this.asked.set(link, Infinity);
        this.onHung(thread, Date.now() - since);
      }
    });
  }
}
