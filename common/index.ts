/**
 * `aion/common`: what Temporal's `@temporalio/common` gives code on either side — failure
 * classes, retry policies, search-attribute types and keys, durations, cancellation
 * policies. Usable in Node, and in workflow bundles (where `@temporalio/common` resolves to it).
 *
 * @module
 */
export {
  AionFailure,
  TemporalFailure,
  ApplicationFailure,
  ApplicationFailureCategory,
  ActivityFailure,
  ChildWorkflowFailure,
  CancelledFailure,
  TimeoutFailure,
  TerminatedFailure,
  rootCause,
  ValueError,
  IllegalStateError,
  type ApplicationFailureOptions,
} from './failures.js';
export { ParentClosePolicy, ActivityCancellationType, ChildWorkflowCancellationType } from './cancellation-policies.js';
export { ActivityCancellationDetails, type ActivityCancellationDetailsOptions } from './activity-cancellation.js';
export {
  SearchAttributeType,
  defineSearchAttributeKey,
  TypedSearchAttributes,
  type SearchAttributeKey,
  type SearchAttributePair,
  type SearchAttributeUpdatePair,
  type SearchAttributeValue,
  type SearchAttributesInput,
} from './search-attributes.js';
export type { RetryPolicyOptions as RetryPolicy } from './retry-policy.js';
export type { Duration } from './time.js';
export type { TimeoutType } from './protocol.js';
