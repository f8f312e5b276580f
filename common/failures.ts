/**
 * Failure classes, shared by workflow code (inside the sandbox), activities and the host.
 * Names and shapes follow Temporal's `@temporalio/common` so ported code keeps working.
 * Failures cross every boundary as {@link FailureInfo} data, never as objects.
 *
 * @module
 */
import type { FailureInfo, FailureType, TimeoutType } from './protocol.js';

/** Base class of every failure Aion records and transports. */
export abstract class AionFailure extends Error {
  abstract readonly failureType: FailureType;
  constructor(message?: string, options?: { cause?: Error }) {
    super(message ?? '', options);
  }
}

/** Temporal's name for the base class, so `instanceof TemporalFailure` ports unchanged. */
export { AionFailure as TemporalFailure };

/** Temporal's failure categories: a `BENIGN` failure is an expected outcome (logged at debug level, not as an error). */
export const ApplicationFailureCategory = { BENIGN: 'BENIGN' } as const;
export type ApplicationFailureCategory = (typeof ApplicationFailureCategory)[keyof typeof ApplicationFailureCategory];

export interface ApplicationFailureOptions {
  message?: string;
  type?: string;
  nonRetryable?: boolean;
  details?: unknown[];
  cause?: Error;
  category?: ApplicationFailureCategory;
}

/**
 * An application-defined failure. Thrown from a workflow, it fails the run; thrown from an
 * activity, it fails the attempt (retried unless `nonRetryable` or its type is listed in the
 * retry policy's `nonRetryableErrorTypes`).
 */
export class ApplicationFailure extends AionFailure {
  override name = 'ApplicationFailure';
  readonly failureType = 'ApplicationFailure' as const;
  constructor(
    message?: string,
    readonly type?: string,
    readonly nonRetryable = false,
    readonly details?: unknown[],
    cause?: Error,
    readonly category?: ApplicationFailureCategory,
  ) {
    super(message, { cause });
  }

  static create(options: ApplicationFailureOptions = {}): ApplicationFailure {
    return new ApplicationFailure(options.message, options.type, options.nonRetryable ?? false, options.details, options.cause, options.category);
  }

  static retryable(message?: string, type?: string, ...details: unknown[]): ApplicationFailure {
    return new ApplicationFailure(message, type ?? 'Error', false, details);
  }

  static nonRetryable(message?: string, type?: string, ...details: unknown[]): ApplicationFailure {
    return new ApplicationFailure(message, type ?? 'Error', true, details);
  }

  /** Wraps any thrown value; an `ApplicationFailure` is returned as it is. */
  static fromError(error: unknown, overrides: ApplicationFailureOptions = {}): ApplicationFailure {
    if (error instanceof ApplicationFailure) return error;
    const err = error instanceof Error ? error : undefined;
    const failure = new ApplicationFailure(
      overrides.message ?? (err ? err.message : String(error)),
      overrides.type ?? (err ? err.constructor?.name || err.name : 'Error'),
      overrides.nonRetryable ?? false,
      overrides.details,
      overrides.cause,
    );
    if (err?.stack) failure.stack = err.stack;
    return failure;
  }
}

/** An activity failed for good (retries exhausted, non-retryable, timed out or cancelled). */
export class ActivityFailure extends AionFailure {
  override name = 'ActivityFailure';
  readonly failureType = 'ActivityFailure' as const;
  constructor(
    message: string,
    readonly activityType: string,
    readonly activityId: string | undefined,
    cause?: Error,
  ) {
    super(message, { cause });
  }
}

/** A child workflow ended without a result. */
export class ChildWorkflowFailure extends AionFailure {
  override name = 'ChildWorkflowFailure';
  readonly failureType = 'ChildWorkflowFailure' as const;
  constructor(
    message: string,
    cause?: Error,
    readonly workflowId?: string,
    readonly workflowType?: string,
  ) {
    super(message, { cause });
  }
}

/** Cancellation: of a scope, of the workflow, or of an activity. */
export class CancelledFailure extends AionFailure {
  override name = 'CancelledFailure';
  readonly failureType = 'CancelledFailure' as const;
  constructor(
    message = 'Cancelled',
    readonly details: unknown[] = [],
    cause?: Error,
  ) {
    super(message, { cause });
  }
}

/** A timeout fired (an activity's start-to-close, schedule-to-close or heartbeat timeout). */
export class TimeoutFailure extends AionFailure {
  override name = 'TimeoutFailure';
  readonly failureType = 'TimeoutFailure' as const;
  constructor(
    message: string,
    readonly timeoutType: TimeoutType,
  ) {
    super(message);
  }
}

/** The workflow was terminated. */
export class TerminatedFailure extends AionFailure {
  override name = 'TerminatedFailure';
  readonly failureType = 'TerminatedFailure' as const;
}

/**
 * Thrown by `continueAsNew`: not a failure; the run ends and a new run of the same workflow
 * id starts with `args`.
 */
export class ContinueAsNew extends Error {
  override name = 'ContinueAsNew';
  constructor(
    readonly workflowType: string | undefined,
    readonly args: unknown[],
  ) {
    super('Workflow continued as new');
  }
}

/** True for a cancellation, including an activity or child that failed because it was cancelled. */
export function isCancellation(error: unknown): boolean {
  if (error instanceof CancelledFailure) return true;
  return (error instanceof ActivityFailure || error instanceof ChildWorkflowFailure) && error.cause instanceof CancelledFailure;
}

/** The message of the innermost cause of a failure (Temporal's `rootCause`); undefined for a non-error. */
export function rootCause(error: unknown): string | undefined {
  for (let current = error, depth = 0; depth <= MAX_CAUSE_DEPTH; depth++) {
    if (!(current instanceof AionFailure)) return current instanceof Error ? current.message : typeof current === 'string' ? current : undefined;
    if (!current.cause) return current.message;
    current = current.cause;
  }
  return undefined;
}

/** Causes deeper than this are not serialised (a cause chain may be a cycle). */
const MAX_CAUSE_DEPTH = 16;

/**
 * Serialises any thrown value. Non-failure errors become `ApplicationFailure` data. Never
 * throws: a value whose properties throw when read (hostile getters, a `toString` that
 * throws) becomes a failure saying so.
 */
export function toFailureInfo(error: unknown, depth = 0): FailureInfo {
  try {
    return describeFailure(error, depth);
  } catch {
    return { failureType: 'ApplicationFailure', type: 'UnreadableError', message: 'a value was thrown whose properties cannot be read' };
  }
}

function describeFailure(error: unknown, depth: number): FailureInfo {
  const failure = error instanceof AionFailure ? error : ApplicationFailure.fromError(error);
  const info: FailureInfo = { failureType: failure.failureType, message: String(failure.message) };
  if (failure.stack) info.stack = String(failure.stack);
  if (failure.cause !== undefined && depth < MAX_CAUSE_DEPTH) info.cause = toFailureInfo(failure.cause, depth + 1);
  if (failure instanceof ApplicationFailure) {
    if (failure.type !== undefined) info.type = failure.type;
    if (failure.nonRetryable) info.nonRetryable = true;
    if (failure.details !== undefined && failure.details.length > 0) info.details = failure.details;
    if (failure.category !== undefined) info.category = failure.category;
  } else if (failure instanceof ActivityFailure) {
    info.activityType = failure.activityType;
    if (failure.activityId !== undefined) info.activityId = failure.activityId;
  } else if (failure instanceof ChildWorkflowFailure) {
    if (failure.workflowId !== undefined) info.workflowId = failure.workflowId;
    if (failure.workflowType !== undefined) info.workflowType = failure.workflowType;
  } else if (failure instanceof TimeoutFailure) {
    info.timeoutType = failure.timeoutType;
  } else if (failure instanceof CancelledFailure && failure.details.length > 0) {
    info.details = failure.details;
  }
  return info;
}

/** Rebuilds the failure object a `FailureInfo` describes. */
export function fromFailureInfo(info: FailureInfo): AionFailure {
  const cause = info.cause ? fromFailureInfo(info.cause) : undefined;
  let failure: AionFailure;
  switch (info.failureType) {
    case 'ActivityFailure':
      failure = new ActivityFailure(info.message, info.activityType ?? '', info.activityId, cause);
      break;
    case 'ChildWorkflowFailure':
      failure = new ChildWorkflowFailure(info.message, cause, info.workflowId, info.workflowType);
      break;
    case 'CancelledFailure':
      failure = new CancelledFailure(info.message, info.details ?? [], cause);
      break;
    case 'TimeoutFailure':
      failure = new TimeoutFailure(info.message, info.timeoutType ?? 'START_TO_CLOSE');
      break;
    case 'TerminatedFailure':
      failure = new TerminatedFailure(info.message, { cause });
      break;
    default:
      failure = new ApplicationFailure(info.message, info.type, info.nonRetryable ?? false, info.details, cause, info.category);
  }
  if (info.stack) failure.stack = info.stack;
  return failure;
}

/** Temporal's error for a bad value (not a failure: thrown from workflow code, it fails the workflow task). */
export class ValueError extends Error {
  override name = 'ValueError';
}

/** Temporal's error for an operation in the wrong state (not a failure, as `ValueError`). */
export class IllegalStateError extends Error {
  override name = 'IllegalStateError';
}
