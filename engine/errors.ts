/**
 * Errors of the host library. Each has a stable `code` (the HTTP API and CLI map on it);
 * messages name the offending input.
 *
 * @module
 */
import type { AionFailure } from '../common/failures.js';
import type { RunStatus } from '../store/types.js';
import type { NamespaceQuotas } from './hosting/quotas.js';

export type AionErrorCode =
  | 'INVALID_ARGUMENT'
  | 'NOT_FOUND'
  | 'ALREADY_STARTED'
  | 'ALREADY_EXISTS'
  | 'FAILED_PRECONDITION'
  | 'RESOURCE_EXHAUSTED'
  | 'WORKFLOW_FAILED'
  | 'NOT_RUNNING'
  | 'QUERY_FAILED'
  | 'UPDATE_FAILED'
  | 'DETERMINISM_VIOLATION'
  | 'WORKFLOW_TASK_FAILED'
  | 'BUNDLE_INVALID'
  | 'ENGINE_CLOSED'
  | 'QUARANTINED'
  | 'PARTITION_ELSEWHERE';

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

/** A request a quota refuses: `rate` quotas are `RESOURCE_EXHAUSTED` (retry later), the others `FAILED_PRECONDITION`. */
export class QuotaExceededError extends AionError {
  override name = 'QuotaExceededError';
  constructor(
    readonly namespace: string,
    readonly quota: keyof NamespaceQuotas,
    readonly limit: number,
    detail: string,
  ) {
    super(quota === 'startsPerSecond' ? 'RESOURCE_EXHAUSTED' : 'FAILED_PRECONDITION', `namespace ${namespace} is at its quota ${quota} = ${limit}: ${detail}`);
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

/** `deploy({ check: true })` found running runs the bundle would not replay: nothing was deployed. */
export class DeployCheckFailedError extends AionError {
  override name = 'DeployCheckFailedError';
  constructor(
    readonly checked: number,
    /** One line per run that would break: its ids, where it diverges, the source lines. */
    readonly runs: string[],
  ) {
    super('DETERMINISM_VIOLATION', `the bundle would break ${runs.length} of the ${checked} running runs it was checked against, so it was not deployed:\n${runs.join('\n')}`);
  }
}

/** No such namespace (or, to a caller of another namespace, one it may not see: the same answer). */
export class NamespaceNotFoundError extends AionError {
  override name = 'NamespaceNotFoundError';
  constructor(readonly namespace: string) {
    super('NOT_FOUND', `namespace ${namespace} not found`);
  }
}

/** No API key with that id. */
export class ApiKeyNotFoundError extends AionError {
  override name = 'ApiKeyNotFoundError';
  constructor(readonly keyId: string) {
    super('NOT_FOUND', `API key ${keyId} not found`);
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
  constructor(
    workflowId: string,
    /** The run's status: `Running` when it cannot take this now (`why`), though it runs. */
    readonly status: RunStatus,
    why?: string,
  ) {
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

/** Where replayed code differs from its history. */
export interface Divergence {
  /** Position (eventId) in the history where the code diverged. */
  eventIndex: number;
  /** What the history recorded there. */
  expected: string;
  /** What the code produced instead. */
  actual: string;
  /** Where the recorded command was made (`file:line`), if the history says. */
  recordedAt?: string;
  /** Where the code made its command (`file:line`; in the bundle, `line:column`, until mapped). */
  producedAt?: string;
  /** A one-line guess at the cause. */
  hint?: string;
  /** The type of the recorded event (absent where the code made a command the history does not have). */
  eventType?: string;
  /** Set when the commands match but a value they carry changed (a strict check): the field. */
  changed?: string;
}

/** Workflow code did not reproduce its recorded history. */
export class DeterminismViolationError extends AionError {
  override name = 'DeterminismViolationError';
  readonly eventIndex: number;
  readonly expected: string;
  readonly actual: string;
  readonly recordedAt?: string;
  readonly producedAt?: string;
  readonly hint?: string;
  /** Every divergence found (`replayHistory(…, { all: true })`); the first is this error's own. */
  readonly divergences: Divergence[];
  constructor(details: Divergence & { divergences?: Divergence[] }) {
    const more = (details.divergences?.length ?? 1) - 1;
    super('DETERMINISM_VIOLATION', `${describeDivergence(details)}${more > 0 ? ` (and ${more} more divergence${more > 1 ? 's' : ''})` : ''}`);
    const { divergences, ...divergence } = details;
    this.eventIndex = details.eventIndex;
    this.expected = details.expected;
    this.actual = details.actual;
    this.recordedAt = details.recordedAt;
    this.producedAt = details.producedAt;
    this.hint = details.hint;
    this.divergences = divergences ?? [divergence];
  }
}

/** One line: where, what the history has and what the code produced (with their source locations), and the hint. */
export function describeDivergence(d: Divergence): string {
  const recorded = d.recordedAt ? ` (recorded at ${d.recordedAt})` : '';
  const produced = d.producedAt ? ` (at ${d.producedAt})` : '';
  return `nondeterminism at event ${d.eventIndex}: history has ${d.expected}${recorded}, code produced ${d.actual}${produced}${d.hint ? `; ${d.hint}` : ''}`;
}

/**
 * `replayHistory(…, { includePending: true })`: the jobs the history left pending (after its
 * last activation) fail their activation again, as they did in the run — a bug
 * (`failure`, with its stack in source lines) or a sandbox crash (`crashKind`: CPU budget,
 * memory, stack).
 */
export class PendingActivationFailedError extends AionError {
  override name = 'PendingActivationFailedError';
  constructor(
    message: string,
    readonly crashKind: string,
    override readonly cause?: AionFailure,
  ) {
    super('WORKFLOW_TASK_FAILED', message, { cause });
  }
}

export class EngineClosedError extends AionError {
  override name = 'EngineClosedError';
  constructor() {
    super('ENGINE_CLOSED', 'the engine is closed');
  }
}

/**
 * A call for a workflow whose partition another engine of the cluster serves (PostgreSQL
 * cluster mode): `aion server` forwards it to that engine; a library caller sends it there.
 */
export class PartitionElsewhereError extends AionError {
  override name = 'PartitionElsewhereError';
  constructor(readonly partition: number) {
    super('PARTITION_ELSEWHERE', `partition ${partition} is served by another engine of the cluster (or is moving between engines)`);
  }
}

/** A bundle was refused at deploy (does not build, does not evaluate, exports no workflow). */
export class InvalidBundleError extends AionError {
  override name = 'InvalidBundleError';
  constructor(message: string) {
    super('BUNDLE_INVALID', message);
  }
}
