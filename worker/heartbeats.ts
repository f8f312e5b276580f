/**
 * An attempt's heartbeats, sent to the server throttled as Temporal's workers do: the first at
 * once, later ones at most once per interval (80 % of the heartbeat timeout, at most 60 s;
 * 30 s without a heartbeat timeout), always with the latest details. The server's answer
 * carries cancellation: the workflow asked to cancel, or the attempt is no longer running
 * there (it timed out and was re-dispatched) — either aborts the attempt's signal.
 *
 * @module
 */
import { attemptCancellation, type CancelledFailure, type Logger } from '../engine/index.js';
import { WorkerCallError, type WorkerTransport } from './worker-transport.js';

const DEFAULT_INTERVAL_MS = 30_000;
const MAX_INTERVAL_MS = 60_000;

export class Heartbeats {
  private readonly intervalMs: number;
  private lastSentAt = -Infinity;
  private pending: { details: unknown } | undefined;
  private timer: NodeJS.Timeout | undefined;
  private sending = false;
  private stopped = false;

  constructor(
    private readonly transport: WorkerTransport,
    private readonly taskToken: string,
    heartbeatTimeoutMs: number | undefined,
    /** Aborts the attempt (with why). */
    private readonly abort: (reason: CancelledFailure) => void,
    private readonly logger: Logger,
  ) {
    this.intervalMs = heartbeatTimeoutMs === undefined ? DEFAULT_INTERVAL_MS : Math.min(heartbeatTimeoutMs * 0.8, MAX_INTERVAL_MS);
  }

  /** The activity heartbeats (`Context.heartbeat`): its details are sent now or at the next interval. */
  record(details: unknown): void {
    if (this.stopped) return;
    // Copied now: the activity may change the object before it is sent.
    this.pending = { details: details === undefined ? undefined : JSON.parse(JSON.stringify(details)) };
    this.schedule();
  }

  /** The attempt ended: nothing more is sent. */
  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
  }

  private schedule(): void {
    if (this.stopped || this.sending || this.timer || !this.pending) return;
    const wait = this.lastSentAt + this.intervalMs - Date.now();
    if (wait <= 0) void this.send();
    else {
      this.timer = setTimeout(() => {
        this.timer = undefined;
        void this.send();
      }, wait);
      this.timer.unref();
    }
  }

  private async send(): Promise<void> {
    if (this.stopped || !this.pending) return;
    const { details } = this.pending;
    this.pending = undefined;
    this.sending = true;
    this.lastSentAt = Date.now();
    try {
      await this.transport.heartbeat(this.taskToken, details);
    } catch (error) {
      if (error instanceof WorkerCallError && error.code === 'NOT_RUNNING') this.abort(attemptCancellation('Activity cancelled', { cancelRequested: true }));
      else if (error instanceof WorkerCallError && error.status === 404) this.abort(attemptCancellation('the server no longer runs this attempt (it timed out, or its run closed)', { notFound: true }));
      // Not sent (the server is away): the next heartbeat carries newer details anyway.
      else this.logger.warn({ err: error }, 'could not send an activity heartbeat');
    } finally {
      this.sending = false;
    }
    this.schedule();
  }
}
