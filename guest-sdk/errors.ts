/**
 * Temporal's workflow error classes, for code that throws or checks them. Neither is a
 * failure: thrown from workflow code, they fail the workflow task.
 *
 * @module
 */

/** Base class of errors about how workflow code uses the SDK. */
export class WorkflowError extends Error {
  override name = 'WorkflowError';
}

/** The code does not reproduce its history (the engine's own check is `DeterminismViolationError` of `aion`). */
export class DeterminismViolationError extends WorkflowError {
  override name = 'DeterminismViolationError';
}
