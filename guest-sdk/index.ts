/**
 * `aion/workflow`: the API of workflow code. Bundles get this module from the sandbox's
 * guest runtime (the bundler aliases `aion/workflow` and `@temporalio/workflow` to it).
 *
 * @module
 */
export {
  proxyActivities,
  proxyLocalActivities,
  type LocalActivityOptions,
  sleep,
  condition,
  defineSignal,
  defineQuery,
  defineUpdate,
  workflowMetadataQuery,
  stackTraceQuery,
  enhancedStackTraceQuery,
  setHandler,
  workflowInfo,
  uuid4,
  log,
  startChild,
  executeChild,
  getExternalWorkflowHandle,
  type ExternalWorkflowHandle,
  continueAsNew,
  makeContinueAsNewFunc,
  patched,
  deprecatePatch,
  upsertSearchAttributes,
  upsertMemo,
  setDefaultSignalHandler,
  setDefaultQueryHandler,
  setDefaultUpdateHandler,
  currentUpdateInfo,
  allHandlersFinished,
  inWorkflowContext,
  setWorkflowOptions,
  type WorkflowDefinitionOptions,
  getCurrentDetails,
  setCurrentDetails,
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
export { Trigger } from './trigger.js';
export { WorkflowError, DeterminismViolationError } from './errors.js';
export * from '../common/index.js';
export { isCancellation, ContinueAsNew } from '../common/failures.js';
export type { WorkflowInfo, ChildWorkflowHandle, UpdateInfo } from './internals.js';
export type { EnhancedStackTrace, StackTraceFileLocation } from '../common/protocol.js';
