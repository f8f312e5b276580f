/**
 * `aion`: the host library.
 *
 * @module
 */
export {
  Engine,
  type EngineOptions,
  type CheckpointOptions,
  type SnapshotOptions,
  type StartOptions,
  type SignalWithStartOptions,
  type UpdateWithStartOptions,
  type ListOptions,
  type ListPageOptions,
  type WorkflowSummary,
  type EngineEvents,
  type ClusterStatus,
} from './engine.js';
export type { VisibilityQuery, AttributePredicate, TimeBound } from './visibility.js';
export {
  Schedules,
  ScheduleNotFoundError,
  type ScheduleOptions,
  type ScheduleUpdate,
  type ScheduleSpec,
  type ScheduleAction,
  type ScheduleDescription,
  type ScheduleFiredEvent,
  type OverlapPolicy,
  type CatchupPolicy,
} from './schedules/schedules.js';
export { WorkflowHandle, type WorkflowDescription, type WorkflowUpdateHandle } from './handle.js';
export { bundleWorkflowCode, BundleError, type BundleOptions } from './bundler.js';
export { workflowComponentSource, COMPONENTIZE_DISABLED_FEATURES } from './component-source.js';
export { replayHistory, type ReplayOptions, type ReplayableHistory } from './replay-history.js';
export type { DebugReplayOptions } from './debug-replay.js';
export { inspectHistory, timelineOf, type InspectOptions, type RunAtEvent, type TimelineStep, type InspectedLog } from './inspector.js';
export { replayHistories, type ReplayHistoriesOptions, type ReplayReport, type DivergedRun, type DivergenceGroup } from './replay-histories.js';
export type { DeployResult, VersionInfo } from './bundles.js';
export type { ActivityFunction } from './activities/dispatcher.js';
export type { AsyncCompletionHandle } from './activities/async-completion.js';
export { infoOfTaskMessage, type ActivityTaskMessage, type WireActivityInfo } from './activities/task-message.js';
export type { TaskQueueDescription } from './activities/task-queues.js';
export { attemptCancellation } from './activities/cancellation.js';
export { defaultLogger, type Logger } from './logger.js';
export { EngineMetrics } from './metrics.js';
export { DEFAULT_SUPERVISION, type SupervisionPolicy, type SupervisionOptions } from './supervision.js';
export type { HistoryEvent, EventType } from './history/events.js';
export type { ReplayLimits } from './replay.js';
export { checkOptionKeys } from './input.js';
export {
  AionError,
  InvalidArgumentError,
  WorkflowNotFoundError,
  WorkflowAlreadyStartedError,
  ActivityNotFoundError,
  ActivityCancelledError,
  WorkflowFailedError,
  WorkflowNotRunningError,
  QueryFailedError,
  WorkflowUpdateFailedError,
  WorkflowUpdateNotFoundError,
  NamespaceNotFoundError,
  DeployCheckFailedError,
  ApiKeyNotFoundError,
  QuotaExceededError,
  DeterminismViolationError,
  PendingActivationFailedError,
  type Divergence,
  EngineClosedError,
  InvalidBundleError,
  PartitionElsewhereError,
  type AionErrorCode,
} from './errors.js';
export {
  ApplicationFailure,
  ActivityFailure,
  CancelledFailure,
  ChildWorkflowFailure,
  TerminatedFailure,
  TimeoutFailure,
  AionFailure,
  TemporalFailure,
  toFailureInfo,
  fromFailureInfo,
} from '../common/failures.js';
export type { FailureInfo } from '../common/protocol.js';
export type { SearchAttributesInput, SearchAttributeValue } from '../common/search-attributes.js';
export { toMs, type Duration } from '../common/time.js';
export type { SandboxLimits } from '../sandbox/limits.js';
export { RUN_STATUSES, type RunStatus, type EventStore, type PartitionStatus } from '../store/types.js';
export { openLevelDbStore, openMemoryStore } from '../store/open.js';
export { StoreError, type StoreErrorCode } from '../store/errors.js';
export { RunQuarantinedError } from './quarantine.js';
export { DEFAULT_NAMESPACE, Namespaces, type NamespaceInfo, type NamespaceSettings } from './hosting/namespaces.js';
export { ApiKeys, ROLES, type ApiKeyInfo, type NewApiKey, type Role } from './hosting/api-keys.js';
export { AuditLog, type AuditEntry } from './hosting/audit.js';
export type { WatchedEvent } from './history-stream.js';
export { isClosingEventType } from './history/events.js';
export { StreamLaggedError } from './history-stream.js';
export { QUOTA_NAMES, type NamespaceQuotas } from './hosting/quotas.js';
