/**
 * `aion/workflow`: the API of workflow code. Bundles get this module from the sandbox's
 * guest runtime (the bundler aliases `aion/workflow` and `@temporalio/workflow` to it).
 *
 * @module
 */
export {
  proxyActivities,
  sleep,
  condition,
  defineSignal,
  defineQuery,
  defineUpdate,
  setHandler,
  workflowInfo,
  uuid4,
  log,
  startChild,
  executeChild,
  continueAsNew,
  makeContinueAsNewFunc,
  patched,
  deprecatePatch,
  upsertSearchAttributes,
  type ChildWorkflowOptions,
  type ActivityOptions,
  type ActivityInterfaceFor,
  type RetryPolicyOptions,
  type SignalDefinition,
  type QueryDefinition,
  type UpdateDefinition,
  type UpdateHandlerOptions,
} from './workflow.js';
export { CancellationScope, type CancellationScopeOptions } from './cancellation-scope.js';
export {
  AionFailure,
  TemporalFailure,
  ApplicationFailure,
  ActivityFailure,
  ChildWorkflowFailure,
  CancelledFailure,
  TimeoutFailure,
  TerminatedFailure,
  ContinueAsNew,
  isCancellation,
  type ApplicationFailureOptions,
} from '../common/failures.js';
export type { WorkflowInfo, ChildWorkflowHandle } from './internals.js';
export type { ParentClosePolicy } from '../common/protocol.js';
export type { SearchAttributeValue } from '../common/search-attributes.js';
export type { Duration } from '../common/time.js';
