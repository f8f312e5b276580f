/**
 * `aion/activity`: what activity code can ask about the attempt it runs in.
 *
 * @example
 * import { Context } from 'aion/activity';
 * export async function upload(file: string) {
 *   const ctx = Context.current();
 *   for (const chunk of chunks(file)) {
 *     ctx.heartbeat(chunk.index);
 *     await send(chunk, { signal: ctx.cancellationSignal });
 *   }
 * }
 *
 * @module
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { CancelledFailure } from '../../common/failures.js';

export { ApplicationFailure, CancelledFailure, TimeoutFailure } from '../../common/failures.js';

export interface ActivityInfo {
  /** Unique within the workflow run (the activity's sequence number). */
  activityId: string;
  activityType: string;
  /** 1 for the first attempt. */
  attempt: number;
  workflowId: string;
  runId: string;
  workflowType: string;
  namespace: string;
  taskQueue: string;
  scheduledTime: Date;
  /** Details of the last heartbeat of a previous attempt, if any. */
  heartbeatDetails?: unknown;
}

export class Context {
  /** Rejects with a `CancelledFailure` once the attempt is cancelled or timed out. */
  readonly cancelled: Promise<never>;

  constructor(
    readonly info: ActivityInfo,
    /** Aborted when the attempt is cancelled (workflow cancellation, timeout, engine shutdown). */
    readonly cancellationSignal: AbortSignal,
    private readonly onHeartbeat: (details: unknown) => void,
  ) {
    this.cancelled = new Promise<never>((_, reject) => {
      const abort = () => reject(asCancelledFailure(cancellationSignal.reason));
      if (cancellationSignal.aborted) abort();
      else cancellationSignal.addEventListener('abort', abort, { once: true });
    });
    this.cancelled.catch(() => undefined);
  }

  /** The context of the activity attempt the caller runs in. */
  static current(): Context {
    const context = activityContext.getStore();
    if (!context) throw new Error('Context.current() can only be called from an activity run by the Aion engine');
    return context;
  }

  /** Reports liveness (resets the heartbeat timeout); `details` go to the next attempt. */
  heartbeat(details?: unknown): void {
    this.onHeartbeat(details);
  }

  /** Sleeps `ms`, rejecting early with a `CancelledFailure` if the attempt is cancelled. */
  sleep(ms: number): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(resolve, ms);
      this.cancelled.catch((error: unknown) => {
        clearTimeout(timer);
        reject(error);
      });
    });
  }
}

function asCancelledFailure(reason: unknown): CancelledFailure {
  if (reason instanceof CancelledFailure) return reason;
  return new CancelledFailure(reason instanceof Error ? reason.message : 'Activity cancelled');
}

/**
 * Where the engine keeps the context of the attempt running on this async path. One per
 * process, even if this module is loaded twice (activities bundled with their own copy of
 * `aion/activity`, or a built and a source copy side by side).
 */
const STORAGE_KEY = Symbol.for('aion.activityContext');
const holder = globalThis as { [STORAGE_KEY]?: AsyncLocalStorage<Context> };
export const activityContext: AsyncLocalStorage<Context> = (holder[STORAGE_KEY] ??= new AsyncLocalStorage<Context>());
