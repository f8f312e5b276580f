/**
 * The correspondence between the sandbox protocol and history events, as exhaustive tables:
 * adding a job or command kind does not compile until it is mapped here.
 *
 * @module
 */
import type { Command, CommandKind, CommandsByKind, Job } from '../../common/protocol.js';
import type { CommandEventType, EventOf, HistoryEvent, JobEventType, NewEvent, NewEventOf } from './events.js';
import { runIdFor } from '../../store/partitions.js';

/** Job event → the job it delivers. */
const JOB_OF: { [K in JobEventType]: (event: EventOf<K> | NewEventOf<K>) => Job } = {
  WorkflowStarted: (e) => ({
    kind: 'startWorkflow',
    args: e.args,
    info: {
      workflowId: e.workflowId,
      runId: e.runId,
      workflowType: e.workflowType,
      namespace: e.namespace,
      taskQueue: e.taskQueue,
      startTime: e.time,
      randomSeed: e.randomSeed,
      ...(e.flags ? { flags: e.flags } : {}),
      ...(e.failureErrorTypes ? { failureErrorTypes: e.failureErrorTypes } : {}),
      searchAttributes: e.searchAttributes,
      ...(e.memo ? { memo: e.memo } : {}),
      firstExecutionRunId: e.firstExecutionRunId,
      ...(e.continuedFromRunId ? { continuedFromExecutionRunId: e.continuedFromRunId } : {}),
      ...(e.executionStartTime !== undefined ? { executionStartTime: e.executionStartTime } : {}),
      ...(e.executionDeadline !== undefined ? { executionDeadline: e.executionDeadline } : {}),
      ...(e.runTimeoutMs !== undefined ? { runTimeoutMs: e.runTimeoutMs } : {}),
      ...(e.parent ? { parent: { workflowId: e.parent.workflowId, runId: e.parent.runId, namespace: e.parent.namespace } } : {}),
      ...(e.root ? { root: e.root } : {}),
      ...(e.cronSchedule !== undefined ? { cronSchedule: e.cronSchedule } : {}),
      ...(e.lastResult !== undefined ? { lastResult: e.lastResult } : {}),
      ...(e.lastFailure ? { lastFailure: e.lastFailure } : {}),
    },
  }),
  ActivityCompleted: (e) => ({ kind: 'resolveActivity', seq: e.seq, result: e.result }),
  ActivityFailed: (e) => ({ kind: 'failActivity', seq: e.seq, failure: e.failure }),
  TimerFired: (e) => ({ kind: 'fireTimer', seq: e.seq }),
  SignalReceived: (e) => ({ kind: 'signal', name: e.name, args: e.args }),
  ChildWorkflowCompleted: (e) => ({ kind: 'resolveChild', seq: e.seq, result: e.result }),
  ChildWorkflowFailed: (e) => ({ kind: 'failChild', seq: e.seq, failure: e.failure }),
  UpdateAccepted: (e) => ({ kind: 'update', updateId: e.updateId, name: e.name, args: e.args, ...(e.validated ? { validated: true } : {}) }),
  CancelRequested: (e) => ({ kind: 'cancelWorkflow', reason: e.reason }),
  ExternalWorkflowSignaled: (e) => ({ kind: 'resolveExternal', seq: e.seq }),
  SignalExternalWorkflowFailed: (e) => ({ kind: 'failExternal', seq: e.seq, failure: e.failure }),
  ExternalWorkflowCancelRequested: (e) => ({ kind: 'resolveExternal', seq: e.seq }),
  RequestCancelExternalWorkflowFailed: (e) => ({ kind: 'failExternal', seq: e.seq, failure: e.failure }),
};

export function jobOf(event: EventOf<JobEventType> | NewEventOf<JobEventType>): Job {
  return (JOB_OF[event.type] as (e: typeof event) => Job)(event);
}

type CommandMapping = {
  [K in CommandKind]: {
    event: CommandEventType;
    /** The recorded event for this command of `run` at activation time `time`. */
    toEvent: (command: CommandsByKind[K], time: number, run: RunOfCommand) => NewEvent;
    /** Attributes that identify the command: replay compares these. */
    identity: (command: CommandsByKind[K]) => Record<string, unknown>;
    /** What a strict replay compares too (`replayHistory(…, { strict: true })`): the values the command carries. */
    strict?: (command: CommandsByKind[K]) => Record<string, unknown>;
  };
};

const COMMANDS: CommandMapping = {
  scheduleActivity: {
    event: 'ActivityScheduled',
    toEvent: (c, time) => ({ type: 'ActivityScheduled', time, seq: c.seq, activityType: c.activityType, args: c.args, options: c.options }),
    identity: (c) => ({ seq: c.seq, activityType: c.activityType }),
    strict: (c) => ({ args: c.args }),
  },
  requestCancelActivity: {
    event: 'ActivityCancelRequested',
    toEvent: (c, time) => ({ type: 'ActivityCancelRequested', time, seq: c.seq, ...(c.waitForCompletion ? { waitForCompletion: true } : {}) }),
    // Waiting is part of the command: code that now waits where it did not (or the reverse) diverges here.
    identity: (c) => (c.waitForCompletion ? { seq: c.seq, waitForCompletion: true } : { seq: c.seq }),
  },
  startTimer: {
    event: 'TimerStarted',
    toEvent: (c, time) => ({ type: 'TimerStarted', time, seq: c.seq, durationMs: c.durationMs, fireAt: time + c.durationMs }),
    identity: (c) => ({ seq: c.seq }),
    strict: (c) => ({ durationMs: c.durationMs }),
  },
  cancelTimer: {
    event: 'TimerCanceled',
    toEvent: (c, time) => ({ type: 'TimerCanceled', time, seq: c.seq }),
    identity: (c) => ({ seq: c.seq }),
  },
  startChildWorkflow: {
    event: 'ChildWorkflowStarted',
    toEvent: (c, time) => ({ type: 'ChildWorkflowStarted', time, seq: c.seq, workflowType: c.workflowType, workflowId: c.workflowId, runId: c.runId, args: c.args, options: c.options }),
    // The child's id too, as Temporal checks it: an id drawn from uuid4() changes when a random draw moves.
    identity: (c) => ({ seq: c.seq, workflowType: c.workflowType, workflowId: c.workflowId }),
    strict: (c) => ({ args: c.args }),
  },
  requestCancelChild: {
    event: 'ChildWorkflowCancelRequested',
    toEvent: (c, time) => ({ type: 'ChildWorkflowCancelRequested', time, seq: c.seq }),
    identity: (c) => ({ seq: c.seq }),
  },
  signalExternalWorkflow: {
    event: 'SignalExternalWorkflowInitiated',
    toEvent: (c, time) => ({
      type: 'SignalExternalWorkflowInitiated',
      time,
      seq: c.seq,
      workflowId: c.workflowId,
      ...(c.runId !== undefined ? { runId: c.runId } : {}),
      signalName: c.signalName,
      args: c.args,
      ...(c.childOnly ? { childOnly: true } : {}),
    }),
    identity: (c) => ({ seq: c.seq, workflowId: c.workflowId, signalName: c.signalName }),
    strict: (c) => ({ args: c.args }),
  },
  requestCancelExternalWorkflow: {
    event: 'RequestCancelExternalWorkflowInitiated',
    toEvent: (c, time) => ({ type: 'RequestCancelExternalWorkflowInitiated', time, seq: c.seq, workflowId: c.workflowId, ...(c.runId !== undefined ? { runId: c.runId } : {}) }),
    identity: (c) => ({ seq: c.seq, workflowId: c.workflowId }),
  },
  upsertSearchAttributes: {
    event: 'SearchAttributesUpserted',
    toEvent: (c, time) => ({ type: 'SearchAttributesUpserted', time, attributes: c.attributes }),
    identity: () => ({}),
    strict: (c) => ({ attributes: c.attributes }),
  },
  upsertMemo: {
    event: 'MemoUpserted',
    toEvent: (c, time) => ({ type: 'MemoUpserted', time, memo: c.memo }),
    identity: () => ({}),
    strict: (c) => ({ memo: c.memo }),
  },
  recordPatch: {
    event: 'MarkerRecorded',
    toEvent: (c, time) => ({ type: 'MarkerRecorded', time, patchId: c.patchId, deprecated: c.deprecated }),
    identity: (c) => ({ patchId: c.patchId }),
  },
  completeUpdate: {
    event: 'UpdateCompleted',
    toEvent: (c, time) =>
      c.failure ? { type: 'UpdateCompleted', time, updateId: c.updateId, failure: c.failure } : { type: 'UpdateCompleted', time, updateId: c.updateId, result: c.result },
    identity: (c) => ({ updateId: c.updateId }),
  },
  rejectUpdate: {
    event: 'UpdateRejected',
    toEvent: (c, time) => ({ type: 'UpdateRejected', time, updateId: c.updateId, failure: c.failure }),
    identity: (c) => ({ updateId: c.updateId }),
  },
  completeWorkflow: {
    event: 'WorkflowCompleted',
    toEvent: (c, time) => ({ type: 'WorkflowCompleted', time, result: c.result }),
    identity: () => ({}),
    strict: (c) => ({ result: c.result }),
  },
  failWorkflow: {
    event: 'WorkflowFailed',
    toEvent: (c, time) => ({ type: 'WorkflowFailed', time, failure: c.failure }),
    identity: () => ({}),
  },
  cancelWorkflow: {
    event: 'WorkflowCanceled',
    toEvent: (c, time) => ({ type: 'WorkflowCanceled', time, failure: c.failure }),
    identity: () => ({}),
  },
  continueAsNew: {
    event: 'WorkflowContinuedAsNew',
    // The successor's run id is chosen when the command is recorded.
    toEvent: (c, time, run) => ({ type: 'WorkflowContinuedAsNew', time, workflowType: c.workflowType, args: c.args, newRunId: runIdFor(run.namespace, run.workflowId) }),
    identity: () => ({}),
    strict: (c) => ({ workflowType: c.workflowType, args: c.args }),
  },
};

/** A command whose absence (or presence) in a replay is not a divergence: a deprecated patch marker. */
export const isDeprecatedMarker = (command: Command | undefined): boolean => command?.kind === 'recordPatch' && command.deprecated;
export const isDeprecatedMarkerEvent = (event: HistoryEvent | undefined): boolean => event?.type === 'MarkerRecorded' && event.deprecated;

/** The workflow whose activation made a command. */
export interface RunOfCommand {
  namespace: string;
  workflowId: string;
}

/** The event recording `command` of `run`; `locate` turns its bundle call site into a source location. */
export function eventOfCommand(command: Command, time: number, run: RunOfCommand, locate?: (callSite: string) => string | undefined): NewEvent {
  const mapping = COMMANDS[command.kind] as CommandMapping[CommandKind];
  const event = (mapping.toEvent as (c: Command, t: number, r: RunOfCommand) => NewEvent)(command, time, run);
  const callSite = command.callSite === undefined ? undefined : locate?.(command.callSite);
  return callSite === undefined ? event : { ...event, callSite };
}

/** A one-line description of a command, for determinism diffs. */
export function describeCommand(command: Command): string {
  const mapping = COMMANDS[command.kind] as CommandMapping[CommandKind];
  return `${command.kind} → ${mapping.event}${formatIdentity((mapping.identity as (c: Command) => Record<string, unknown>)(command))}`;
}

/** A one-line description of a recorded event, for determinism diffs. */
export function describeEvent(event: HistoryEvent): string {
  const identity: Record<string, unknown> = {};
  for (const key of ['seq', 'activityType', 'workflowType', 'workflowId', 'signalName', 'updateId', 'name', 'patchId'] as const) {
    if (key in event) identity[key] = (event as unknown as Record<string, unknown>)[key];
  }
  return `${event.type}${formatIdentity(identity)} (event ${event.eventId})`;
}

/** The type of event a command is recorded as. */
export const eventTypeOf = (command: Command): string => COMMANDS[command.kind].event;

/** Whether `command` is what `event` recorded (same type and identifying attributes). */
export function commandMatchesEvent(command: Command, event: HistoryEvent): boolean {
  const mapping = COMMANDS[command.kind] as CommandMapping[CommandKind];
  if (mapping.event !== event.type) return false;
  const identity = (mapping.identity as (c: Command) => Record<string, unknown>)(command);
  return Object.entries(identity).every(([key, value]) => (event as unknown as Record<string, unknown>)[key] === value);
}

/**
 * For a command that matches its event: the first value a strict replay finds changed (the
 * field's name), or undefined. Values compare as JSON, as the history holds them.
 */
export function strictDifference(command: Command, event: HistoryEvent): string | undefined {
  const mapping = COMMANDS[command.kind] as CommandMapping[CommandKind];
  const values = (mapping.strict as ((c: Command) => Record<string, unknown>) | undefined)?.(command) ?? {};
  return Object.keys(values).find((key) => canonicalJson(values[key]) !== canonicalJson((event as unknown as Record<string, unknown>)[key]));
}

/** JSON with object keys sorted: equal values give equal text whatever the order they were built in. */
function canonicalJson(value: unknown): string | undefined {
  return JSON.stringify(value, (_key, v: unknown) =>
    v && typeof v === 'object' && !Array.isArray(v) ? Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) : v,
  );
}

function formatIdentity(identity: Record<string, unknown>): string {
  const parts = Object.entries(identity).map(([key, value]) => `${key}=${JSON.stringify(value)}`);
  return parts.length === 0 ? '' : `(${parts.join(', ')})`;
}
