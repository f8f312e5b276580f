/**
 * `aion/activity`: what activity code can ask about the attempt it runs in, with Temporal's
 * names (`Context.current()`, and the functions `activityInfo`, `heartbeat`, `sleep`,
 * `cancelled`, `cancellationSignal`, `log`), so activity code ports by changing its import.
 *
 * @example
 * import { activityInfo, heartbeat, cancellationSignal } from 'aion/activity';
 * export async function upload(file: string) {
 *   const start = (activityInfo().heartbeatDetails as number | undefined) ?? 0;
 *   for (const chunk of chunks(file).slice(start)) {
 *     await send(chunk, { signal: cancellationSignal() });
 *     heartbeat(chunk.index + 1);
 *   }
 * }
 *
 * @module
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import type { ActivityCancellationDetails } from '../../common/activity-cancellation.js';
import { CancelledFailure } from '../../common/failures.js';
import type { RetryPolicy } from '../../common/protocol.js';
import { toMs, type Duration } from '../../common/time.js';
import { cancellationDetailsOf } from './cancellation.js';

export { ApplicationFailure, CancelledFailure, TimeoutFailure } from '../../common/failures.js';
export { ActivityCancellationDetails } from '../../common/activity-cancellation.js';

export interface ActivityInfo {
  /** Names this task for asynchronous completion (`engine.asyncCompletion(taskToken)`). */
  taskToken: Uint8Array;
  /** `taskToken` as base64 text. */
  base64TaskToken: string;
  /** Unique within the workflow run (the activity's sequence number). */
  activityId: string;
  activityType: string;
  /** 1 for the first attempt. */
  attempt: number;
  /** Always false: local activities do not exist here. */
  isLocal: boolean;
  workflowId: string;
  runId: string;
  workflowType: string;
  namespace: string;
  /** Temporal's names of the same facts. */
  workflowExecution: { workflowId: string; runId: string };
  workflowNamespace: string;
  activityNamespace: string;
  taskQueue: string;
  scheduledTime: Date;
  scheduledTimestampMs: number;
  currentAttemptScheduledTimestampMs: number;
  startToCloseTimeoutMs?: number;
  scheduleToCloseTimeoutMs?: number;
  heartbeatTimeoutMs?: number;
  retryPolicy: RetryPolicy;
  /** Details of the last recorded heartbeat (of this attempt before an engine restart, or of a previous attempt), if any. */
  heartbeatDetails?: unknown;
}

/** Activity logging: the engine's logger, with the activity's ids on every line. */
export interface ActivityLogger {
  trace(message: string, attributes?: Record<string, unknown>): void;
  debug(message: string, attributes?: Record<string, unknown>): void;
  info(message: string, attributes?: Record<string, unknown>): void;
  warn(message: string, attributes?: Record<string, unknown>): void;
  error(message: string, attributes?: Record<string, unknown>): void;
}

/**
 * The activity's logger over a host logger (the engine's, a worker's): `ids` on every line;
 * `trace` goes to `debug`, which pino-shaped loggers have for it.
 */
export function activityLoggerOf(logger: Record<'debug' | 'info' | 'warn' | 'error', (attributes: object, message: string) => void>, ids: object): ActivityLogger {
  const at =
    (level: 'debug' | 'info' | 'warn' | 'error') =>
    (message: string, attributes?: Record<string, unknown>): void =>
      logger[level]({ ...ids, ...attributes }, message);
  return { trace: at('debug'), debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}

/**
 * Thrown by an activity that will be completed from outside, later: the engine keeps the
 * task open until `engine.asyncCompletion(info.taskToken)` completes, fails or cancels it.
 */
export class CompleteAsyncError extends Error {
  override name = 'CompleteAsyncError';
  constructor() {
    super('The activity will be completed asynchronously');
  }
}

export class Context {
  /** Rejects with a `CancelledFailure` once the attempt is cancelled or timed out. */
  readonly cancelled: Promise<never>;

  constructor(
    readonly info: ActivityInfo,
    /** Aborted when the attempt is cancelled (workflow cancellation, timeout, engine shutdown). */
    readonly cancellationSignal: AbortSignal,
    private readonly onHeartbeat: (details: unknown) => void,
    readonly log: ActivityLogger,
    /** The engine running the attempt, or a remote worker's connection: what aion/activity's `Context.client` talks to (the engine does not know clients). */
    engine?: object,
  ) {
    if (engine) engines.set(this, engine);
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

  /**
   * Reports liveness (resets the heartbeat timeout). `details` are recorded (at most about
   * once a second) and given to the next attempt, after an engine restart too.
   */
  heartbeat(details?: unknown): void {
    this.onHeartbeat(details);
  }

  /** Why the attempt was cancelled; undefined while it is not. */
  get cancellationDetails(): ActivityCancellationDetails | undefined {
    if (!this.cancellationSignal.aborted) return undefined;
    return cancellationDetailsOf(this.cancellationSignal.reason);
  }

  /** Sleeps, rejecting early with a `CancelledFailure` if the attempt is cancelled. */
  sleep(duration: Duration): Promise<void> {
    const ms = toMs(duration);
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(resolve, ms);
      this.cancelled.catch((error: unknown) => {
        clearTimeout(timer);
        reject(error);
      });
    });
  }
}

/** The attempt's facts (`Context.current().info`). */
export const activityInfo = (): ActivityInfo => Context.current().info;
/** `Context.current().heartbeat(details)`. */
export const heartbeat = (details?: unknown): void => Context.current().heartbeat(details);
/** `Context.current().sleep(duration)`: a sleep that a cancellation ends early. */
export const sleep = (duration: Duration): Promise<void> => Context.current().sleep(duration);
/** `Context.current().cancelled`: rejects once the attempt is cancelled. */
export const cancelled = (): Promise<never> => Context.current().cancelled;
/** `Context.current().cancellationDetails`: why the attempt was cancelled, once it was. */
export const cancellationDetails = (): ActivityCancellationDetails | undefined => Context.current().cancellationDetails;
/** `Context.current().cancellationSignal`. */
export const cancellationSignal = (): AbortSignal => Context.current().cancellationSignal;
/** Logs with the current activity's ids (`Context.current().log`). */
export const log: ActivityLogger = {
  trace: (message, attributes) => Context.current().log.trace(message, attributes),
  debug: (message, attributes) => Context.current().log.debug(message, attributes),
  info: (message, attributes) => Context.current().log.info(message, attributes),
  warn: (message, attributes) => Context.current().log.warn(message, attributes),
  error: (message, attributes) => Context.current().log.error(message, attributes),
};

function asCancelledFailure(reason: unknown): CancelledFailure {
  if (reason instanceof CancelledFailure) return reason;
  return new CancelledFailure(reason instanceof Error ? reason.message : 'Activity cancelled');
}

/** The engine running each context's attempt (kept off the context: activity code does not get the engine). */
const engines = new WeakMap<Context, object>();

/** The engine running `context`'s attempt, for aion/activity's client (not part of the activity API). */
export const engineOf = (context: Context): object | undefined => engines.get(context);

/**
 * Where the engine keeps the context of the attempt running on this async path. One per
 * process, even if this module is loaded twice (activities bundled with their own copy of
 * `aion/activity`, or a built and a source copy side by side).
 */
const STORAGE_KEY = Symbol.for('aion.activityContext');
const holder = globalThis as { [STORAGE_KEY]?: AsyncLocalStorage<Context> };
export const activityContext: AsyncLocalStorage<Context> = (holder[STORAGE_KEY] ??= new AsyncLocalStorage<Context>());
