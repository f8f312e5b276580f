/**
 * History events: the durable record of a run, oldest first, JSON-serialisable.
 *
 * Grammar (what replay relies on):
 *
 *     history := (job-event | WorkflowTaskCompleted command-event* | WorkflowTaskFailed)* host-close?
 *
 * - Job events are the inputs of activations (a start, a resolved activity, a signal...).
 * - `WorkflowTaskCompleted` marks one activation: the job events since the previous
 *   activation marker were delivered to it, at the marker's `time`; the command events that
 *   follow are what the workflow code produced. One activation is one atomic append.
 * - `WorkflowTaskFailed` marks an activation attempt that crashed: its jobs stay pending.
 * - Host closes (`WorkflowTerminated`, `WorkflowTimedOut`, or `WorkflowFailed` right after a
 *   `WorkflowTaskFailed`) end a run without workflow code running.
 *
 * @module
 */
import type { FailureInfo, ResolvedActivityOptions, ResolvedChildOptions, RuntimeFlag } from '../../common/protocol.js';
import type { SearchAttributeValue } from '../../common/search-attributes.js';

export interface EventAttributes {
  // Job events (inputs) ------------------------------------------------------------------
  WorkflowStarted: {
    workflowType: string;
    workflowId: string;
    runId: string;
    namespace: string;
    taskQueue: string;
    args: unknown[];
    /** Bundle version the run is pinned to. */
    version: string;
    randomSeed: number;
    /** Runtime behaviour flags the run started with (absent in histories recorded before flags existed). */
    flags?: RuntimeFlag[];
    searchAttributes: Record<string, SearchAttributeValue>;
    memo?: Record<string, unknown>;
    firstExecutionRunId: string;
    continuedFromRunId?: string;
    /** When the continue-as-new chain started (absent: this event's time). */
    executionStartTime?: number;
    parent?: { namespace: string; workflowId: string; runId: string; seq: number };
    /** The top of the parent chain (absent: no parent, or recorded before roots were). */
    root?: { workflowId: string; runId: string };
    runTimeoutMs?: number;
    /** Temporal's cron: the run starts at a tick, and when it ends another starts at the next one. */
    cronSchedule?: string;
    /** A cron run's first activation waits for this time (its tick). */
    firstTaskAt?: number;
    /** A cron run after one that completed: its result; after one that failed: its failure. */
    lastResult?: unknown;
    lastFailure?: FailureInfo;
    /** Epoch ms at which this run times out (run timeout, or what is left of the execution timeout). */
    deadline?: { at: number; timeoutType: 'WORKFLOW_RUN' | 'WORKFLOW_EXECUTION' };
    /** Carried across continue-as-new: when the whole execution must have ended. */
    executionDeadline?: number;
    scheduleId?: string;
    /** History length from which this run is told to continue as new (recorded: replay needs it). */
    continueAsNewSuggestedAt: number;
    /** Error type names that fail the run rather than its task (`EngineOptions.workflowFailureErrorTypes`). */
    failureErrorTypes?: string[];
    /** A run made by `engine.reset`: the run it was reset from, and the last event of that run's history it kept. */
    resetFrom?: { runId: string; eventIndex: number };
  };
  ActivityCompleted: { seq: number; result: unknown; attempt: number };
  ActivityFailed: { seq: number; failure: FailureInfo; attempt: number };
  TimerFired: { seq: number };
  SignalReceived: { name: string; args: unknown[] };
  ChildWorkflowCompleted: { seq: number; result: unknown };
  ChildWorkflowFailed: { seq: number; failure: FailureInfo };
  /** `validated`: its validator ran before it was accepted (absent in histories recorded before validators were isolated). */
  UpdateAccepted: { updateId: string; name: string; args: unknown[]; validated?: boolean };
  CancelRequested: { reason?: string };
  ExternalWorkflowSignaled: { seq: number };
  SignalExternalWorkflowFailed: { seq: number; failure: FailureInfo };
  ExternalWorkflowCancelRequested: { seq: number };
  RequestCancelExternalWorkflowFailed: { seq: number; failure: FailureInfo };
  // Activation markers -------------------------------------------------------------------
  /** `historySize`: bytes of the history before this marker, as the workflow saw them (absent in older histories). */
  WorkflowTaskCompleted: { historySize?: number };
  /** An activation attempt crashed. With `restartAt`, its supervisor restarts it then. */
  WorkflowTaskFailed: { crashKind: string; message: string; restartAt?: number };
  // Command events (outputs) -------------------------------------------------------------
  ActivityScheduled: { seq: number; activityType: string; args: unknown[]; options: ResolvedActivityOptions };
  /** `waitForCompletion`: the activity keeps its task until it ends (cancellation type WAIT_CANCELLATION_COMPLETED). */
  ActivityCancelRequested: { seq: number; waitForCompletion?: boolean };
  TimerStarted: { seq: number; durationMs: number; fireAt: number };
  TimerCanceled: { seq: number };
  /** Record-then-start: the child run with this id is created (exactly once) after this is durable. */
  ChildWorkflowStarted: { seq: number; workflowType: string; workflowId: string; runId: string; args: unknown[]; options: ResolvedChildOptions };
  ChildWorkflowCancelRequested: { seq: number };
  /** Record-then-signal: the target gets the signal (exactly once) after this is durable. */
  SignalExternalWorkflowInitiated: { seq: number; workflowId: string; runId?: string; signalName: string; args: unknown[]; childOnly?: boolean };
  RequestCancelExternalWorkflowInitiated: { seq: number; workflowId: string; runId?: string };
  SearchAttributesUpserted: { attributes: Record<string, SearchAttributeValue | null> };
  MemoUpserted: { memo: Record<string, unknown> };
  MarkerRecorded: { patchId: string; deprecated: boolean };
  UpdateCompleted: { updateId: string; result?: unknown; failure?: FailureInfo };
  UpdateRejected: { updateId: string; failure: FailureInfo };
  WorkflowCompleted: { result: unknown };
  WorkflowFailed: { failure: FailureInfo };
  WorkflowCanceled: { failure: FailureInfo };
  WorkflowContinuedAsNew: { workflowType: string; args: unknown[]; newRunId: string };
  // Host closes ------------------------------------------------------------------------------
  WorkflowTerminated: { reason?: string };
  WorkflowTimedOut: { timeoutType: 'WORKFLOW_RUN' | 'WORKFLOW_EXECUTION' };
}

export type EventType = keyof EventAttributes;

export interface EventBase {
  /** 1-based position in the run's history. */
  eventId: number;
  /** Epoch ms at which the event was recorded (for activation markers: the activation's time). */
  time: number;
  /** Command events: where in the workflow's source the command was made (`file:line`; absent in older histories). */
  callSite?: string;
}

export type HistoryEvent = { [K in EventType]: EventBase & { type: K } & EventAttributes[K] }[EventType];
export type EventOf<K extends EventType> = Extract<HistoryEvent, { type: K }>;

/** An event before it is given its position (what the engine builds, then numbers). */
export type NewEvent = { [K in EventType]: { type: K; time: number; callSite?: string } & EventAttributes[K] }[EventType];
export type NewEventOf<K extends EventType> = Extract<NewEvent, { type: K }>;

export const JOB_EVENT_TYPES = [
  'WorkflowStarted',
  'ActivityCompleted',
  'ActivityFailed',
  'TimerFired',
  'SignalReceived',
  'ChildWorkflowCompleted',
  'ChildWorkflowFailed',
  'UpdateAccepted',
  'CancelRequested',
  'ExternalWorkflowSignaled',
  'SignalExternalWorkflowFailed',
  'ExternalWorkflowCancelRequested',
  'RequestCancelExternalWorkflowFailed',
] as const satisfies readonly EventType[];
export type JobEventType = (typeof JOB_EVENT_TYPES)[number];

export const COMMAND_EVENT_TYPES = [
  'ActivityScheduled',
  'ActivityCancelRequested',
  'TimerStarted',
  'TimerCanceled',
  'ChildWorkflowStarted',
  'ChildWorkflowCancelRequested',
  'SignalExternalWorkflowInitiated',
  'RequestCancelExternalWorkflowInitiated',
  'SearchAttributesUpserted',
  'MemoUpserted',
  'MarkerRecorded',
  'UpdateCompleted',
  'UpdateRejected',
  'WorkflowCompleted',
  'WorkflowFailed',
  'WorkflowCanceled',
  'WorkflowContinuedAsNew',
] as const satisfies readonly EventType[];
export type CommandEventType = (typeof COMMAND_EVENT_TYPES)[number];

const jobEventTypes = new Set<string>(JOB_EVENT_TYPES);
const commandEventTypes = new Set<string>(COMMAND_EVENT_TYPES);

export const isJobEvent = (event: { type: string }): event is EventOf<JobEventType> => jobEventTypes.has(event.type);
export const isCommandEvent = (event: { type: string }): event is EventOf<CommandEventType> => commandEventTypes.has(event.type);

/** Status a closing event gives its run. */
export const CLOSING_STATUS = {
  WorkflowCompleted: 'Completed',
  WorkflowFailed: 'Failed',
  WorkflowCanceled: 'Canceled',
  WorkflowContinuedAsNew: 'ContinuedAsNew',
  WorkflowTerminated: 'Terminated',
  WorkflowTimedOut: 'TimedOut',
} as const;
export type ClosingEventType = keyof typeof CLOSING_STATUS;
export const isClosingEvent = (event: { type: string }): event is EventOf<ClosingEventType> => event.type in CLOSING_STATUS;
export const isClosingEventType = (type: string): type is ClosingEventType => type in CLOSING_STATUS;

/**
 * The size of events as `workflowInfo().historySize` reports it: characters of their JSON
 * (bytes for ASCII payloads). Counted when events are recorded or read, never per activation.
 */
export function historySizeOf(events: readonly HistoryEvent[]): number {
  let size = 0;
  for (const event of events) size += JSON.stringify(event).length;
  return size;
}
