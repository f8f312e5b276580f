/**
 * What happens to activities and children when the code waiting for them is cancelled, and
 * to children when their parent closes. Values and names as Temporal's (string-valued), so
 * `ParentClosePolicy.ABANDON` and friends port unchanged.
 *
 * @module
 */

/** What happens to a running child when its parent closes. */
export const ParentClosePolicy = {
  /** The child is terminated (the default). */
  TERMINATE: 'TERMINATE',
  /** The child keeps running. */
  ABANDON: 'ABANDON',
  /** The child is asked to cancel. */
  REQUEST_CANCEL: 'REQUEST_CANCEL',
  /** Temporal's older, prefixed names of the same policies. */
  PARENT_CLOSE_POLICY_TERMINATE: 'TERMINATE',
  PARENT_CLOSE_POLICY_ABANDON: 'ABANDON',
  PARENT_CLOSE_POLICY_REQUEST_CANCEL: 'REQUEST_CANCEL',
} as const;
export type ParentClosePolicy = 'TERMINATE' | 'ABANDON' | 'REQUEST_CANCEL';

/** What cancelling the scope of a pending activity does. */
export const ActivityCancellationType = {
  /** Ask the activity to cancel and reject the workflow's promise at once (the default). */
  TRY_CANCEL: 'TRY_CANCEL',
  /** Ask the activity to cancel and wait for it to end (its result, failure or cancellation). */
  WAIT_CANCELLATION_COMPLETED: 'WAIT_CANCELLATION_COMPLETED',
  /** Reject the workflow's promise at once and let the activity run on, unasked. */
  ABANDON: 'ABANDON',
} as const;
export type ActivityCancellationType = (typeof ActivityCancellationType)[keyof typeof ActivityCancellationType];

/** What cancelling the scope of a started child does. */
export const ChildWorkflowCancellationType = {
  /** Reject the parent's promise at once and let the child run on, unasked. */
  ABANDON: 'ABANDON',
  /** Ask the child to cancel and reject the parent's promise at once. */
  TRY_CANCEL: 'TRY_CANCEL',
  /** Ask the child to cancel and wait for it to close (the default). */
  WAIT_CANCELLATION_COMPLETED: 'WAIT_CANCELLATION_COMPLETED',
  /** Ask the child to cancel and reject once the request is recorded (here: at once, as TRY_CANCEL). */
  WAIT_CANCELLATION_REQUESTED: 'WAIT_CANCELLATION_REQUESTED',
} as const;
export type ChildWorkflowCancellationType = (typeof ChildWorkflowCancellationType)[keyof typeof ChildWorkflowCancellationType];

/** Checks that `value` is one of `policy`'s values; the error names the option and the values allowed. */
export function checkPolicy<T extends string>(policy: Record<string, T>, value: unknown, option: string): T {
  const allowed = [...new Set(Object.values(policy))];
  if (!allowed.includes(value as T)) throw new TypeError(`${option} must be one of ${allowed.join(', ')}, got ${JSON.stringify(value)}`);
  return value as T;
}
