/**
 * The sandbox boundary: what the host sends into a workflow sandbox and what comes back.
 * Everything here is plain JSON data. The host treats every value coming out as untrusted
 * and validates it (engine/commands/validate.ts).
 *
 * @module
 */

import type { ActivityCancellationType, ChildWorkflowCancellationType, ParentClosePolicy } from './cancellation-policies.js';
import type { SearchAttributeValue } from './search-attributes.js';

export type { ParentClosePolicy } from './cancellation-policies.js';

/** A serialised failure: how errors cross the boundary and how they are recorded. */
export interface FailureInfo {
  /** Which failure class this is on the guest side. */
  failureType: FailureType;
  message: string;
  /** Application-defined type (`ApplicationFailure.type`, or the error's class name). */
  type?: string;
  nonRetryable?: boolean;
  details?: unknown[];
  /** `ApplicationFailure.category` (`BENIGN`). */
  category?: 'BENIGN';
  stack?: string;
  cause?: FailureInfo;
  /** For `ActivityFailure`. */
  activityType?: string;
  activityId?: string;
  /** For `TimeoutFailure`: which timeout fired. */
  timeoutType?: TimeoutType;
  /** For `ChildWorkflowFailure`. */
  workflowId?: string;
  workflowType?: string;
}

export type FailureType =
  | 'ApplicationFailure'
  | 'ActivityFailure'
  | 'CancelledFailure'
  | 'TimeoutFailure'
  | 'TerminatedFailure'
  | 'ChildWorkflowFailure';

export type TimeoutType = 'START_TO_CLOSE' | 'SCHEDULE_TO_START' | 'SCHEDULE_TO_CLOSE' | 'HEARTBEAT' | 'WORKFLOW_RUN' | 'WORKFLOW_EXECUTION';

/** Child workflow options as the parent resolved them: durations in ms. */
export interface ResolvedChildOptions {
  parentClosePolicy: ParentClosePolicy;
  /** Absent: `WAIT_CANCELLATION_COMPLETED`. */
  cancellationType?: ChildWorkflowCancellationType;
  taskQueue?: string;
  workflowExecutionTimeoutMs?: number;
  workflowRunTimeoutMs?: number;
  searchAttributes?: Record<string, SearchAttributeValue>;
  memo?: Record<string, unknown>;
  /** Temporal's cron: the child runs at each tick (UTC cron expression). */
  cronSchedule?: string;
}

/** Retry policy with every default applied; intervals in ms. `maximumAttempts` 0 = unlimited. */
export interface RetryPolicy {
  maximumAttempts: number;
  initialIntervalMs: number;
  backoffCoefficient: number;
  maximumIntervalMs: number;
  nonRetryableErrorTypes: string[];
}

/** Activity options as the workflow resolved them: durations in ms. */
export interface ResolvedActivityOptions {
  startToCloseTimeoutMs?: number;
  /** How long the activity may wait for a function to run it (none registered yet). */
  scheduleToStartTimeoutMs?: number;
  scheduleToCloseTimeoutMs?: number;
  heartbeatTimeoutMs?: number;
  taskQueue?: string;
  retry: RetryPolicy;
  /** Absent: `TRY_CANCEL`. */
  cancellationType?: ActivityCancellationType;
  /** Scheduled with `proxyLocalActivities`: run by the engine itself, never routed to a task queue. */
  local?: boolean;
}

/** What the workflow knows about itself from the start (`workflowInfo()`). */
export interface StartInfo {
  workflowId: string;
  runId: string;
  workflowType: string;
  namespace: string;
  taskQueue: string;
  startTime: number;
  /** Seeds `Math.random`, `uuid4` and `crypto` for this run. */
  randomSeed: number;
  /** The runtime behaviours this run started with (see `RUNTIME_FLAGS`); absent in older histories. */
  flags?: RuntimeFlag[];
  /** Error type names the engine was told fail runs rather than tasks (see `failsTheTask`). */
  failureErrorTypes?: string[];
  searchAttributes: Record<string, SearchAttributeValue>;
  memo?: Record<string, unknown>;
  parent?: { workflowId: string; runId: string; namespace: string };
  root?: { workflowId: string; runId: string };
  /** The first run of this workflow's continue-as-new chain. */
  firstExecutionRunId: string;
  continuedFromExecutionRunId?: string;
  /** When the continue-as-new chain started (absent: `startTime`). */
  executionStartTime?: number;
  /** When the whole execution times out. */
  executionDeadline?: number;
  runTimeoutMs?: number;
  cronSchedule?: string;
  /** A cron run: what the run before it completed with, or failed with. */
  lastResult?: unknown;
  lastFailure?: FailureInfo;
}

/**
 * Changes to how the guest runtime behaves that change what commands a workflow produces.
 * A run records the flags it started with, and keeps that behaviour for its whole life, so a
 * history recorded before a change replays as it was recorded.
 */
export const RUNTIME_FLAGS = [
  /**
   * Cancellation reaches pending operations through listeners that are dropped once the
   * operation settles (before: reactions on `cancelRequested`, kept for the scope's life, about
   * 1 KiB per await); listeners run before the promise's own reactions.
   */
  'cancellationListeners',
  /**
   * An error that is not a failure (a `TypeError`, a bug) fails the workflow task, not the
   * run: the activation's commands are dropped and it is retried, as in Temporal (before: the
   * run failed with an `ApplicationFailure` named after the error's class).
   */
  'workflowTaskFailures',
  /**
   * Options objects are checked (an unknown key is refused by name) and the options added
   * with Temporal's API are honoured: cancellation types, memo, Temporal's search attribute
   * shapes (before: ignored).
   */
  'temporalOptions',
  /**
   * An update handler's error fails the update only if it is a failure (`ApplicationFailure`,
   * …); any other error is handled as the workflow's own would be: it fails the workflow task
   * (or the run, for a declared failure type), as in Temporal (before: every error failed the
   * update).
   */
  'updateHandlerErrors',
  /**
   * A child's run id carries the child's partition key in its last byte (common/partition-key.ts),
   * so that the child starts in one partition of a partitioned store (before: a plain random UUID).
   */
  'partitionedChildRunIds',
] as const;
export type RuntimeFlag = (typeof RUNTIME_FLAGS)[number];

// Jobs: host → guest -------------------------------------------------------------------

export interface JobsByKind {
  startWorkflow: { args: unknown[]; info: StartInfo };
  resolveActivity: { seq: number; result: unknown };
  failActivity: { seq: number; failure: FailureInfo };
  fireTimer: { seq: number };
  signal: { name: string; args: unknown[] };
  resolveChild: { seq: number; result: unknown };
  failChild: { seq: number; failure: FailureInfo };
  /** `validated`: the host ran the validator before accepting it (absent in older histories: the guest runs it). */
  update: { updateId: string; name: string; args: unknown[]; validated?: boolean };
  cancelWorkflow: { reason?: string };
  /** A signal or cancellation request this run sent to another workflow was recorded there. */
  resolveExternal: { seq: number };
  /** … or could not be (no such workflow, or it is closed). */
  failExternal: { seq: number; failure: FailureInfo };
}
export type JobKind = keyof JobsByKind;
export type Job = { [K in JobKind]: { kind: K } & JobsByKind[K] }[JobKind];

export interface Activation {
  /** The time the workflow sees during this activation (epoch ms). */
  time: number;
  /** True while the host is rebuilding state from history: logging is silent (unless `logWhileReplaying`). */
  replaying: boolean;
  /** A debugging replay that wants the workflow's log lines (`replayHistory(…, { logger })`). */
  logWhileReplaying?: boolean;
  /** Length of the history before this activation's commands. */
  historyLength: number;
  /** Bytes of JSON of the history before this activation's commands (absent from older hosts). */
  historySize?: number;
  /** True once the history is long enough that the run should continue as new. */
  continueAsNewSuggested: boolean;
  /** While replaying: the patches whose markers this activation recorded. */
  patches?: string[];
  jobs: Job[];
}

// Commands: guest → host ---------------------------------------------------------------

export interface CommandsByKind {
  scheduleActivity: { seq: number; activityType: string; args: unknown[]; options: ResolvedActivityOptions };
  /** `waitForCompletion`: the activity's end (not this request) settles the workflow's promise. */
  requestCancelActivity: { seq: number; waitForCompletion?: boolean };
  startTimer: { seq: number; durationMs: number };
  cancelTimer: { seq: number };
  startChildWorkflow: { seq: number; workflowType: string; workflowId: string; runId: string; args: unknown[]; options: ResolvedChildOptions };
  requestCancelChild: { seq: number };
  /** Signals another workflow of this namespace (its latest run, or `runId`). */
  /** `childOnly`: sent through a child's handle, it reaches only a run that is this run's child. */
  signalExternalWorkflow: { seq: number; workflowId: string; runId?: string; signalName: string; args: unknown[]; childOnly?: boolean };
  /** Asks another workflow of this namespace to cancel. */
  requestCancelExternalWorkflow: { seq: number; workflowId: string; runId?: string };
  upsertSearchAttributes: { attributes: Record<string, SearchAttributeValue | null> };
  /** Memo fields to set; `null` removes one. */
  upsertMemo: { memo: Record<string, unknown> };
  recordPatch: { patchId: string; deprecated: boolean };
  completeUpdate: { updateId: string; result?: unknown; failure?: FailureInfo };
  rejectUpdate: { updateId: string; failure: FailureInfo };
  completeWorkflow: { result: unknown };
  failWorkflow: { failure: FailureInfo };
  /** The workflow accepted a cancellation request: the run ends `Canceled`. */
  cancelWorkflow: { failure: FailureInfo };
  /** Ends this run and starts a new run of the same workflow id. */
  continueAsNew: { workflowType: string; args: unknown[] };
}
export type CommandKind = keyof CommandsByKind;
/** `callSite`: where in the bundle the command was made (`line:column`, see `BUNDLE_FILENAME`), for the commands that start something. */
export type Command = { [K in CommandKind]: { kind: K; callSite?: string } & CommandsByKind[K] }[CommandKind];

export interface LogEntry {
  level: 'debug' | 'info' | 'warn' | 'error';
  message: string;
  attributes?: Record<string, unknown>;
}

export interface ActivationResult {
  commands: Command[];
  /** Emitted by `log.*` and `console.*`; empty while replaying. */
  logs: LogEntry[];
  /** Set when workflow code threw an error that is not a failure: the task failed, and `commands` is empty. */
  taskFailure?: FailureInfo;
}

export type QueryResult = { ok: true; result: unknown } | { ok: false; failure: FailureInfo };
export type ValidationResult = { ok: true } | { ok: false; failure: FailureInfo };

/**
 * Entry points of the guest runtime: global functions taking and returning a string.
 * An activation is `activate(activation)` (which applies the first job), then, each time the
 * host has drained the promise jobs, `advance()`: it unblocks conditions or applies the next
 * job and returns `ADVANCE_AGAIN` (drain again), or concludes and returns the
 * `ActivationResult` as JSON.
 */
export const GUEST_ENTRY = {
  loadBundle: '__aion_loadBundle',
  workflowTypes: '__aion_workflowTypes',
  activate: '__aion_activate',
  advance: '__aion_advance',
  query: '__aion_query',
  validateUpdate: '__aion_validateUpdate',
} as const;

export const ADVANCE_AGAIN = '1';

/** The name the sandbox evaluates a bundle under: what its stack frames say. */
export const BUNDLE_FILENAME = 'workflow-bundle.js';

/**
 * Built-in queries answering where the run waits: one stack per pending operation, Temporal's
 * text form and its structured ("enhanced") form. The guest reports bundle locations; the
 * engine maps them to the workflow's sources.
 */
export const STACK_TRACE_QUERY = '__stack_trace';
export const ENHANCED_STACK_TRACE_QUERY = '__enhanced_stack_trace';

/** Built-in query answering `workflowInfo()` as JSON (what the inspector shows of a run at an event). */
export const WORKFLOW_INFO_QUERY = '__aion_workflow_info';

/** A frame of `__enhanced_stack_trace` (Temporal's field names). */
export interface StackTraceFileLocation {
  file_path?: string;
  line?: number;
  column?: number;
  function_name?: string;
  internal_code: boolean;
}

export interface EnhancedStackTrace {
  sdk: { name: string; version: string };
  stacks: { locations: StackTraceFileLocation[] }[];
  /** The text of each file the stacks name (when the bundle's source map carries it). */
  sources: Record<string, { line_offset: number; content: string }[]>;
}

