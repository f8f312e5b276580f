/**
 * Validation of what a sandbox returns. The guest is untrusted: anything that is not a
 * well-formed activation result, within limits and consistent with the run's state (command
 * sequence numbers, pending activities, timers and updates) is refused, and the caller
 * treats the activation as a sandbox crash.
 *
 * @module
 */
import { type ActivationResult, type Command, type FailureInfo, type LogEntry, type ResolvedActivityOptions } from '../../common/protocol.js';
import { ActivityCancellationType, ChildWorkflowCancellationType, ParentClosePolicy } from '../../common/cancellation-policies.js';
import { isSearchAttributeValue } from '../../common/search-attributes.js';
import { nextCronTick } from '../schedules/spec.js';
import { DEFAULT_PAYLOAD_LIMITS, jsonDeeperThan, payloadProblem, type PayloadLimits } from '../payloads.js';
import type { RunState } from '../run/run-state.js';

export interface CommandLimits extends PayloadLimits {
  maxCommandsPerActivation: number;
  maxLogEntriesPerActivation: number;
}

export const DEFAULT_COMMAND_LIMITS: CommandLimits = {
  ...DEFAULT_PAYLOAD_LIMITS,
  maxCommandsPerActivation: 10_000,
  maxLogEntriesPerActivation: 1_000,
};

/** Payloads sit this deep in an activation result: `{ commands: [ { args: … } ] }`. */
const PAYLOAD_NESTING = 3;
/** Longest log message kept (the rest is cut): logs go to the logger, not to the history. */
const MAX_LOG_MESSAGE = 8 * 1024;

const MAX_NAME_LENGTH = 256;
const MAX_DURATION_MS = 100 * 365 * 24 * 3600 * 1000;
const FAILURE_TYPES = new Set(['ApplicationFailure', 'ActivityFailure', 'CancelledFailure', 'TimeoutFailure', 'TerminatedFailure', 'ChildWorkflowFailure']);
const LOG_LEVELS = new Set(['debug', 'info', 'warn', 'error']);

export class InvalidCommandError extends Error {
  override name = 'InvalidCommandError';
}

const invalid = (message: string): never => {
  throw new InvalidCommandError(message);
};

/**
 * Whether a raw activation result may hold a payload past the limits: only one larger than
 * one payload can hold an oversized payload, and only one nested deeper than a payload may be
 * can hold an overly deep one. Most results skip the per-payload checks. (A sandbox thread
 * computes this beside the guest, so the engine thread need not scan the text.)
 */
export function needsPayloadChecks(raw: string, limits: PayloadLimits): boolean {
  return Buffer.byteLength(raw, 'utf8') > limits.maxPayloadBytes || jsonDeeperThan(raw, limits.maxPayloadDepth + PAYLOAD_NESTING);
}

/**
 * Parses and checks the raw JSON a sandbox returned for an activation. `state` must already
 * include the activation's job events; it is not modified: sequence numbers and pending
 * sets are simulated locally.
 */
export function validateActivationResult(raw: string, state: RunState, limits: CommandLimits, checkPayloads = needsPayloadChecks(raw, limits)): ActivationResult {
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    return invalid('the activation result is not JSON');
  }
  if (!isObject(parsed) || !Array.isArray(parsed.commands) || !Array.isArray(parsed.logs)) {
    return invalid('the activation result must be { commands: [], logs: [] }');
  }
  const { commands, logs } = parsed as { commands: unknown[]; logs: unknown[] };
  if (commands.length > limits.maxCommandsPerActivation) {
    invalid(`${commands.length} commands in one activation (limit ${limits.maxCommandsPerActivation})`);
  }
  const checker = new CommandChecker(state, limits, checkPayloads);
  commands.forEach((command, index) => checker.check(command, index, commands.length));
  const result: ActivationResult = { commands: commands as Command[], logs: logs.slice(0, limits.maxLogEntriesPerActivation).map((entry, index) => checkLog(entry, index, limits)) };
  const { taskFailure } = parsed as { taskFailure?: unknown };
  if (taskFailure !== undefined) {
    if (commands.length > 0) invalid('an activation whose task failed has no commands');
    checker.checkFailure(taskFailure, 'taskFailure');
    result.taskFailure = taskFailure as FailureInfo;
  }
  return result;
}

/** Why a query's result cannot be handed to its caller (a malformed failure, a payload past the limits), or undefined. */
export function validateQueryResult(result: unknown, limits: PayloadLimits): string | undefined {
  if (!isObject(result) || typeof result.ok !== 'boolean') return 'is not { ok, result | failure }';
  if (result.ok) return payloadProblem(result.result, limits);
  try {
    checkFailure(result.failure, 'failure');
  } catch (error) {
    return (error as Error).message;
  }
  return payloadProblem(result.failure, limits);
}

/** A command's position in the bundle (`line:column`). */
const CALL_SITE = /^\d{1,9}:\d{1,9}$/;

class CommandChecker {
  private nextActivitySeq: number;
  private nextTimerSeq: number;
  private nextChildSeq: number;
  private nextExternalSeq: number;
  private readonly startedChildren = new Set<number>();
  private readonly cancelledChildren = new Set<number>();
  private readonly scheduledActivities = new Set<number>();
  private readonly startedTimers = new Set<number>();
  private readonly resolvedActivities = new Set<number>();
  private readonly resolvedTimers = new Set<number>();
  private readonly resolvedUpdates = new Set<string>();

  constructor(
    private readonly state: RunState,
    private readonly limits: CommandLimits,
    private readonly checkPayloads: boolean,
  ) {
    this.nextActivitySeq = state.nextActivitySeq;
    this.nextTimerSeq = state.nextTimerSeq;
    this.nextChildSeq = state.nextChildSeq;
    this.nextExternalSeq = state.nextExternalSeq;
  }

  check(command: unknown, index: number, count: number): void {
    if (!isObject(command) || typeof command.kind !== 'string') invalid(`command ${index} has no kind`);
    const c = command as Record<string, unknown> & { kind: string };
    const where = `command ${index} (${c.kind})`;
    if (c.callSite !== undefined && (typeof c.callSite !== 'string' || !CALL_SITE.test(c.callSite))) invalid(`${where} callSite must be 'line:column'`);
    switch (c.kind) {
      case 'scheduleActivity':
        this.expectSeq(c.seq, this.nextActivitySeq++, where);
        this.scheduledActivities.add(c.seq as number);
        checkName(c.activityType, `${where} activityType`);
        this.checkPayloadArray(c.args, `${where} args`);
        checkActivityOptions(c.options, where);
        break;
      case 'requestCancelActivity':
        this.expectPending(
          c.seq,
          (seq) => (this.state.pendingActivities.has(seq) && !this.state.pendingActivities.get(seq)!.cancelRequested) || this.scheduledActivities.has(seq),
          this.resolvedActivities,
          where,
        );
        if (c.waitForCompletion !== undefined && typeof c.waitForCompletion !== 'boolean') invalid(`${where} waitForCompletion must be a boolean`);
        break;
      case 'startTimer':
        this.expectSeq(c.seq, this.nextTimerSeq++, where);
        this.startedTimers.add(c.seq as number);
        checkDuration(c.durationMs, `${where} durationMs`);
        break;
      case 'cancelTimer':
        this.expectPending(c.seq, (seq) => this.state.pendingTimers.has(seq) || this.startedTimers.has(seq), this.resolvedTimers, where);
        break;
      case 'startChildWorkflow':
        this.expectSeq(c.seq, this.nextChildSeq++, where);
        this.startedChildren.add(c.seq as number);
        checkName(c.workflowType, `${where} workflowType`);
        checkId(c.workflowId, `${where} workflowId`);
        if (typeof c.runId !== 'string' || !UUID.test(c.runId)) invalid(`${where} runId must be a UUID`);
        this.checkPayloadArray(c.args, `${where} args`);
        checkChildOptions(c.options, where);
        this.checkPayload(c.options, `${where} options`);
        break;
      case 'requestCancelChild':
        this.expectPending(c.seq, (seq) => this.state.pendingChildren.has(seq) || this.startedChildren.has(seq), this.cancelledChildren, where);
        break;
      case 'signalExternalWorkflow':
      case 'requestCancelExternalWorkflow':
        this.expectSeq(c.seq, this.nextExternalSeq++, where);
        checkId(c.workflowId, `${where} workflowId`);
        if (c.runId !== undefined) checkId(c.runId, `${where} runId`);
        if (c.kind === 'signalExternalWorkflow') {
          checkName(c.signalName, `${where} signalName`);
          if (c.childOnly !== undefined && typeof c.childOnly !== 'boolean') invalid(`${where} childOnly must be a boolean`);
          this.checkPayloadArray(c.args, `${where} args`);
        }
        break;
      case 'upsertSearchAttributes':
        checkSearchAttributes(c.attributes, `${where} attributes`, true);
        this.checkPayload(c.attributes, `${where} attributes`);
        break;
      case 'upsertMemo':
        if (!isObject(c.memo)) invalid(`${where} memo must be an object`);
        this.checkPayload(c.memo, `${where} memo`);
        break;
      case 'recordPatch':
        checkName(c.patchId, `${where} patchId`);
        if (typeof c.deprecated !== 'boolean') invalid(`${where} deprecated must be a boolean`);
        break;
      case 'completeUpdate':
      case 'rejectUpdate': {
        const updateId = c.updateId;
        if (typeof updateId !== 'string' || !this.state.pendingUpdates.has(updateId) || this.resolvedUpdates.has(updateId)) {
          invalid(`${where} refers to update ${JSON.stringify(updateId)}, which is not pending`);
        }
        this.resolvedUpdates.add(updateId as string);
        if (c.failure !== undefined || c.kind === 'rejectUpdate') this.checkFailure(c.failure, `${where} failure`);
        else this.checkPayload(c.result, `${where} result`);
        break;
      }
      case 'completeWorkflow':
      case 'failWorkflow':
      case 'cancelWorkflow':
      case 'continueAsNew':
        if (index !== count - 1) invalid(`${where} ends the run but is not the last command`);
        if (c.kind === 'completeWorkflow') this.checkPayload(c.result, `${where} result`);
        else if (c.kind === 'continueAsNew') {
          checkName(c.workflowType, `${where} workflowType`);
          this.checkPayloadArray(c.args, `${where} args`);
        } else this.checkFailure(c.failure, `${where} failure`);
        break;
      default:
        invalid(`command ${index} has unknown kind ${JSON.stringify(c.kind).slice(0, 64)}`);
    }
  }

  private expectSeq(seq: unknown, expected: number, where: string): void {
    if (seq !== expected) invalid(`${where} has seq ${JSON.stringify(seq)}, expected ${expected}`);
  }

  private expectPending(seq: unknown, isKnown: (seq: number) => boolean, resolved: Set<number>, where: string): void {
    if (typeof seq !== 'number' || !Number.isInteger(seq) || !isKnown(seq) || resolved.has(seq)) {
      invalid(`${where} refers to seq ${JSON.stringify(seq)}, which is not pending`);
    }
    resolved.add(seq as number);
  }

  private checkPayloadArray(value: unknown, what: string): void {
    if (!Array.isArray(value)) invalid(`${what} must be an array`);
    this.checkPayload(value, what);
  }

  private checkPayload(value: unknown, what: string): void {
    if (!this.checkPayloads) return;
    const problem = payloadProblem(value, this.limits);
    if (problem !== undefined) invalid(`${what} ${problem}`);
  }

  /** A failure's shape (depth-first, bounded) and, like any payload, its size with stacks and causes. */
  checkFailure(value: unknown, what: string): void {
    this.checkPayload(value, what);
    checkFailure(value, what);
  }
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const PARENT_CLOSE_POLICIES = new Set<string>(Object.values(ParentClosePolicy));
const ACTIVITY_CANCELLATION_TYPES = new Set<string>(Object.values(ActivityCancellationType));
const CHILD_CANCELLATION_TYPES = new Set<string>(Object.values(ChildWorkflowCancellationType));

/** An id the store can key on: no NUL or other control characters. */
function checkId(value: unknown, what: string): void {
  checkName(value, what);
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(value as string)) invalid(`${what} must not contain control characters`);
}

function checkChildOptions(value: unknown, where: string): void {
  if (!isObject(value)) return invalid(`${where} options must be an object`);
  const options = value as Record<string, unknown>;
  if (!PARENT_CLOSE_POLICIES.has(options.parentClosePolicy as string)) invalid(`${where} options.parentClosePolicy is not a policy`);
  if (options.cancellationType !== undefined && !CHILD_CANCELLATION_TYPES.has(options.cancellationType as string)) invalid(`${where} options.cancellationType is not a cancellation type`);
  if (options.taskQueue !== undefined) checkId(options.taskQueue, `${where} options.taskQueue`);
  for (const key of ['workflowExecutionTimeoutMs', 'workflowRunTimeoutMs']) {
    if (options[key] !== undefined) checkDuration(options[key], `${where} options.${key}`);
  }
  if (options.searchAttributes !== undefined) checkSearchAttributes(options.searchAttributes, `${where} options.searchAttributes`, false);
  if (options.memo !== undefined && !isObject(options.memo)) invalid(`${where} options.memo must be an object`);
  if (options.cronSchedule !== undefined) {
    try {
      nextCronTick(options.cronSchedule as string, 0);
    } catch {
      invalid(`${where} options.cronSchedule is not a cron expression`);
    }
  }
}

/** Search attribute values: strings, finite numbers, booleans, string lists (and `null` to remove, when allowed). */
export function checkSearchAttributes(value: unknown, what: string, allowNull: boolean): void {
  if (!isObject(value)) return invalid(`${what} must be an object`);
  for (const [name, item] of Object.entries(value)) {
    if (name.length === 0 || name.length > MAX_NAME_LENGTH) invalid(`${what} has an attribute name that is empty or too long`);
    if (!((item === null && allowNull) || isSearchAttributeValue(item))) invalid(`${what}.${name} must be a string, a finite number, a boolean or a list of strings`);
  }
}

function checkName(value: unknown, what: string): void {
  if (typeof value !== 'string' || value.length === 0 || value.length > MAX_NAME_LENGTH) {
    invalid(`${what} must be a non-empty string of at most ${MAX_NAME_LENGTH} characters`);
  }
}

function checkDuration(value: unknown, what: string): void {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0 || value > MAX_DURATION_MS) {
    invalid(`${what} must be a duration in ms between 0 and ${MAX_DURATION_MS}`);
  }
}

function checkActivityOptions(value: unknown, where: string): void {
  if (!isObject(value)) return invalid(`${where} options must be an object`);
  const options = value as Partial<ResolvedActivityOptions> & Record<string, unknown>;
  for (const key of ['startToCloseTimeoutMs', 'scheduleToCloseTimeoutMs', 'scheduleToStartTimeoutMs', 'heartbeatTimeoutMs'] as const) {
    if (options[key] !== undefined) checkDuration(options[key], `${where} options.${key}`);
  }
  if (options.startToCloseTimeoutMs === undefined && options.scheduleToCloseTimeoutMs === undefined) {
    invalid(`${where} options need a start-to-close or a schedule-to-close timeout`);
  }
  if (options.taskQueue !== undefined) checkName(options.taskQueue, `${where} options.taskQueue`);
  if (options.cancellationType !== undefined && !ACTIVITY_CANCELLATION_TYPES.has(options.cancellationType)) invalid(`${where} options.cancellationType is not a cancellation type`);
  if (options.local !== undefined && (options.local !== true || options.taskQueue !== undefined)) invalid(`${where} options.local must be true, without a taskQueue`);
  const retry = options.retry;
  if (!isObject(retry)) return invalid(`${where} options.retry must be an object`);
  const r = retry as unknown as Record<string, unknown>;
  if (!Number.isInteger(r.maximumAttempts) || (r.maximumAttempts as number) < 0) invalid(`${where} retry.maximumAttempts must be a non-negative integer`);
  checkDuration(r.initialIntervalMs, `${where} retry.initialIntervalMs`);
  checkDuration(r.maximumIntervalMs, `${where} retry.maximumIntervalMs`);
  if (typeof r.backoffCoefficient !== 'number' || !(r.backoffCoefficient >= 1) || r.backoffCoefficient > 1000) {
    invalid(`${where} retry.backoffCoefficient must be a number between 1 and 1000`);
  }
  if (!Array.isArray(r.nonRetryableErrorTypes) || !r.nonRetryableErrorTypes.every((t) => typeof t === 'string')) {
    invalid(`${where} retry.nonRetryableErrorTypes must be an array of strings`);
  }
}

function checkFailure(value: unknown, what: string, depth = 0): void {
  if (!isObject(value)) return invalid(`${what} must be a failure object`);
  const f = value as Partial<FailureInfo>;
  if (!FAILURE_TYPES.has(f.failureType as string)) invalid(`${what} has unknown failureType ${JSON.stringify(f.failureType)}`);
  if (typeof f.message !== 'string') invalid(`${what} must have a string message`);
  if (f.type !== undefined && typeof f.type !== 'string') invalid(`${what} type must be a string`);
  if (f.category !== undefined && f.category !== 'BENIGN') invalid(`${what} category must be BENIGN`);
  if (f.cause !== undefined) {
    if (depth >= 32) invalid(`${what} has causes nested too deep`);
    checkFailure(f.cause, `${what}.cause`, depth + 1);
  }
}

function checkLog(value: unknown, index: number, limits: PayloadLimits): LogEntry {
  if (!isObject(value)) return invalid(`log entry ${index} must be an object`);
  const entry = value as Partial<LogEntry>;
  if (!LOG_LEVELS.has(entry.level as string) || typeof entry.message !== 'string') {
    invalid(`log entry ${index} must have a level and a string message`);
  }
  const checked: LogEntry = { level: entry.level!, message: entry.message!.length > MAX_LOG_MESSAGE ? `${entry.message!.slice(0, MAX_LOG_MESSAGE)} …` : entry.message! };
  if (entry.attributes !== undefined) {
    const problem = isObject(entry.attributes) ? payloadProblem(entry.attributes, limits) : 'is not an object';
    checked.attributes = problem === undefined ? entry.attributes : { attributesDropped: `the log attributes ${problem}` };
  }
  return checked;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
