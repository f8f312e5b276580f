/**
 * Errors of the host library. Each has a stable `code` (the HTTP API and CLI map on it);
 * messages name the offending input.
 *
 * @module
 */
import type { AionFailure } from '../common/failures.js';
import type { RunStatus } from '../store/types.js';

export type AionErrorCode =
  | 'INVALID_ARGUMENT'
  | 'NOT_FOUND'
  | 'ALREADY_STARTED'
  | 'WORKFLOW_FAILED'
  | 'NOT_RUNNING'
  | 'QUERY_FAILED'
  | 'UPDATE_FAILED'
  | 'DETERMINISM_VIOLATION'
  | 'BUNDLE_INVALID'
  | 'ENGINE_CLOSED'
  | 'QUARANTINED';

export class AionError extends Error {
  override name = 'AionError';
  constructor(
    readonly code: AionErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** Bad input from a caller: an id, a payload, an option. */
export class InvalidArgumentError extends AionError {
  override name = 'InvalidArgumentError';
  constructor(message: string) {
    super('INVALID_ARGUMENT', message);
  }
}

export class WorkflowNotFoundError extends AionError {
  override name = 'WorkflowNotFoundError';
  constructor(
    readonly workflowId: string,
    readonly runId?: string,
  ) {
    super('NOT_FOUND', runId ? `workflow ${workflowId} has no run ${runId}` : `workflow ${workflowId} not found`);
  }
}

/** No activity awaits asynchronous completion under that task token (it never did, or it ended: completed, timed out, cancelled). */
export class ActivityNotFoundError extends AionError {
  override name = 'ActivityNotFoundError';
  constructor(what: string) {
    super('NOT_FOUND', `no activity awaits asynchronous completion for ${what}`);
  }
}

/** The workflow asked the activity to cancel: its asynchronous completer should stop and report the cancellation. */
export class ActivityCancelledError extends AionError {
  override name = 'ActivityCancelledError';
  constructor() {
    super('NOT_RUNNING', 'the workflow asked this activity to cancel');
  }
}

export class WorkflowAlreadyStartedError extends AionError {
  override name = 'WorkflowAlreadyStartedError';
  constructor(
    readonly workflowId: string,
    readonly runId: string,
  ) {
    super('ALREADY_STARTED', `workflow ${workflowId} is already running (run ${runId})`);
  }
}

/** The run ended without a result: failed, cancelled, terminated or timed out. `cause` says why. */
export class WorkflowFailedError extends AionError {
  override name = 'WorkflowFailedError';
  constructor(
    message: string,
    readonly status: RunStatus,
    override readonly cause: AionFailure,
  ) {
    super('WORKFLOW_FAILED', message, { cause });
  }
}

/** An operation that needs a running workflow met a closed one. */
export class WorkflowNotRunningError extends AionError {
  override name = 'WorkflowNotRunningError';
  constructor(workflowId: string, status: RunStatus, why?: string) {
    super('NOT_RUNNING', why ? `workflow ${workflowId} cannot take this now: ${why}` : `workflow ${workflowId} is not running (status ${status})`);
  }
}

export class QueryFailedError extends AionError {
  override name = 'QueryFailedError';
  constructor(message: string, override readonly cause?: AionFailure) {
    super('QUERY_FAILED', message, { cause });
  }
}

export class WorkflowUpdateFailedError extends AionError {
  override name = 'WorkflowUpdateFailedError';
  constructor(message: string, override readonly cause: AionFailure) {
    super('UPDATE_FAILED', message, { cause });
  }
}

/** The run has no update of that id: it never came, or its validator rejected it (a rejected update is not kept). */
export class WorkflowUpdateNotFoundError extends AionError {
  override name = 'WorkflowUpdateNotFoundError';
  constructor(
    readonly updateId: string,
    readonly runId: string,
  ) {
    super('NOT_FOUND', `run ${runId} has no update ${updateId}`);
  }
}

/** Workflow code did not reproduce its recorded history. */
export class DeterminismViolationError extends AionError {
  override name = 'DeterminismViolationError';
  /** Position (eventId) in the history where the code diverged. */
  readonly eventIndex: number;
  /** What the history recorded there. */
  readonly expected: string;
  /** What the code produced instead. */
  readonly actual: string;
  constructor(details: { eventIndex: number; expected: string; actual: string }) {
    super(
      'DETERMINISM_VIOLATION',
      `nondeterminism at event ${details.eventIndex}: history has ${details.expected}, code produced ${details.actual}`,
    );
    this.eventIndex = details.eventIndex;
    this.expected = details.expected;
    this.actual = details.actual;
  }
}

export class EngineClosedError extends AionError {
  override name = 'EngineClosedError';
  constructor() {
    super('ENGINE_CLOSED', 'the engine is closed');
  }
}

/** A bundle was refused at deploy (does not build, does not evaluate, exports no workflow). */
export class InvalidBundleError extends AionError {
  override name = 'InvalidBundleError';
  constructor(message: string) {
    super('BUNDLE_INVALID', message);
  }
}
