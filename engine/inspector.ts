/**
 * A run as it was at any event of its history: the history replayed up to there in a
 * throwaway sandbox of the run's own bundle, then asked what the run was — its
 * `workflowInfo()`, what it waited on (in source lines), any query's answer, the log lines so
 * far — and, as a timeline, what each activation received and did. The engine does it on its
 * sandbox threads (`WorkflowRun.inspect`); `inspectHistory` and `timelineOf` do it here, for
 * histories exported from an engine.
 *
 * A look at a long history costs a replay from the start once: on the way it captures
 * checkpoints (the sandbox's image every so many events, with the log lines so far), which the
 * engine keeps; later looks restore the nearest one and replay only what follows.
 *
 * @module
 */
import { STACK_TRACE_QUERY, WORKFLOW_INFO_QUERY, type LogEntry, type QueryResult } from '../common/protocol.js';
import type { SandboxLimits } from '../sandbox/index.js';
import { DeterminismViolationError, InvalidArgumentError } from './errors.js';
import { canCutAfter, parseHistory, type ParsedHistory } from './history/activations.js';
import type { HistoryEvent } from './history/events.js';
import { locateDivergences } from './divergence.js';
import { checkOptionKeys } from './input.js';
import { DEFAULT_REPLAY_LIMITS, replayActivations, type ReplayLimits } from './replay.js';
import { offlineBundle, readHistory, type ReplayableHistory } from './replay-history.js';
import { RunState } from './run/run-state.js';
import type { BundleLocator } from './source-maps.js';
import { answerStackTraceQuery } from './stack-traces.js';
import type { CapturedImage, SnapshotData } from './sandboxes/messages.js';
import { compressImage, decodeSnapshot } from './snapshots.js';
import type { GuestSandbox, GuestTemplate } from './workflow-sandbox.js';

export interface InspectOptions {
  /** The event to look at: the state is the one after the last activation that ended at or before it. */
  at: number;
  /** A query to answer as the run would have then. */
  query?: string;
  args?: unknown[];
  limits?: Partial<SandboxLimits>;
}

/** A log line of the workflow, with the activation (its marker's event) that wrote it. */
export interface InspectedLog extends LogEntry {
  eventIndex: number;
}

export interface RunAtEvent {
  /** The event the state is after (`at`, or, inside an activation, the event before that activation). Jobs recorded after the last activation are not delivered yet. */
  eventIndex: number;
  /** The time the workflow saw then (its last activation's). */
  time: Date;
  /** `workflowInfo()` as the workflow saw it then (JSON). */
  info: Record<string, unknown>;
  /** What the run waited on, one stack per pending operation, in source lines (the `__stack_trace` query). */
  pending: string;
  /** The answer to `query`, if one was asked. */
  query?: QueryResult;
  logs: InspectedLog[];
  /** Where the replay behind this answer started: a checkpoint's event, or 0 (the start of the history). */
  replayedFrom: number;
}

/** One activation of the timeline: what it received, what it did, what it logged. */
export interface TimelineStep {
  /** The activation's marker (`WorkflowTaskCompleted`). */
  eventIndex: number;
  time: Date;
  jobs: string[];
  commands: { type: string; callSite?: string }[];
  logs: InspectedLog[];
}

/** What a sandbox thread (or the offline inspector) answers about a replayed history prefix. */
export interface SandboxInspection {
  info: Record<string, unknown>;
  /** The `__stack_trace` answer, in bundle locations. */
  stacks: string;
  query?: QueryResult;
  logs: InspectedLog[];
  /** The checkpoint the replay started from (0: the start of the history). */
  replayedFrom: number;
  /** Checkpoints captured on the way (when asked to). */
  checkpoints: CapturedCheckpoint[];
}

/** A checkpoint as the store gives it back, for an inspection to start from: a snapshot, and the log lines up to it. */
export type CheckpointData = SnapshotData & { logs: InspectedLog[] };

/**
 * A checkpoint an inspection captured: the sandbox's image after event `eventId`, and the log
 * lines since `previous` (the checkpoint, or 0: the start, the replay went on from).
 */
export type CapturedCheckpoint = CapturedImage & { eventId: number; build: string; previous: number; logs: InspectedLog[] };

export interface CheckpointUse {
  /** Restore this one (if it fits the template's version and build) instead of replaying from the start. */
  from?: CheckpointData;
  /** Capture a checkpoint each time this many events were replayed since the last one. */
  every?: number;
}

/**
 * Replays `history` (a prefix) into a sandbox of `template` — fresh, or restored from a
 * checkpoint — asks it, and throws it away.
 */
export async function inspectSandbox(
  template: GuestTemplate,
  version: string,
  history: ParsedHistory,
  limits: ReplayLimits,
  time: number,
  query?: { name: string; args: unknown[] },
  checkpoints: CheckpointUse = {},
): Promise<SandboxInspection> {
  const restored = checkpoints.from && (await restoreCheckpoint(template, version, history, checkpoints.from));
  try {
    return await inspectFrom(restored ?? { sandbox: await template.newSandbox(), eventId: 0, logs: [] }, history, limits, time, query, checkpoints.every ?? 0);
  } catch (error) {
    if (!restored) throw error;
    // The history is the truth: a checkpoint the rest of it does not replay onto only costs a full replay.
    return inspectFrom({ sandbox: await template.newSandbox(), eventId: 0, logs: [] }, history, limits, time, query, checkpoints.every ?? 0);
  }
}

/** Replays the activations of `history` after `start.eventId` into `start.sandbox`, asks it, and throws it away. */
async function inspectFrom(
  start: { sandbox: GuestSandbox; eventId: number; logs: InspectedLog[] },
  history: ParsedHistory,
  limits: ReplayLimits,
  time: number,
  query: { name: string; args: unknown[] } | undefined,
  every: number,
): Promise<SandboxInspection> {
  const { sandbox } = start;
  try {
    const logs: InspectedLog[] = [...start.logs];
    const captured: CapturedCheckpoint[] = [];
    let previous = { eventId: start.eventId, logCount: logs.length };
    replayActivations(sandbox, history, new RunState(), limits, {
      fromEventId: start.eventId,
      onLogs: (eventIndex, entries) => logs.push(...entries.map((entry) => ({ ...entry, eventIndex }))),
      ...(every > 0
        ? {
            afterActivation: (eventId: number) => {
              if (eventId - previous.eventId < every) return;
              captured.push({ ...compressImage(sandbox.capture()), build: sandbox.build, eventId, previous: previous.eventId, logs: logs.slice(previous.logCount) });
              previous = { eventId, logCount: logs.length };
            },
          }
        : {}),
    });
    const info = sandbox.query(WORKFLOW_INFO_QUERY, [], time);
    const stacks = sandbox.query(STACK_TRACE_QUERY, [], time);
    return {
      info: info.ok ? (info.result as Record<string, unknown>) : {},
      stacks: stacks.ok ? String(stacks.result) : '',
      ...(query ? { query: sandbox.query(query.name, query.args, time) } : {}),
      logs,
      replayedFrom: start.eventId,
      checkpoints: captured,
    };
  } finally {
    sandbox.dispose();
  }
}

/** A sandbox restored from `checkpoint`, if it is of this version and build and within the history. */
async function restoreCheckpoint(template: GuestTemplate, version: string, history: ParsedHistory, checkpoint: CheckpointData): Promise<{ sandbox: GuestSandbox; eventId: number; logs: InspectedLog[] } | undefined> {
  const last = history.activations.at(-1);
  const historyLength = last?.commands.at(-1)?.eventId ?? last?.marker.eventId ?? 0;
  const decoded = decodeSnapshot(checkpoint, { version, build: template.build, historyLength, byteLength: template.memoryBytes });
  if (!('image' in decoded)) return undefined;
  return { sandbox: await template.restore(decoded.image), eventId: checkpoint.eventId, logs: checkpoint.logs };
}

/** Where to cut a history to look at it after event `at`, and the time the workflow saw there. */
export function cutHistory(events: readonly HistoryEvent[], at: number): { eventIndex: number; history: ParsedHistory; time: number } {
  if (!Number.isInteger(at) || at < 1 || at > events.length) throw new InvalidArgumentError(`at must be an event index of the history (1 to ${events.length})`);
  const eventIndex = boundaryAtOrBefore(events, at);
  const prefix = events.slice(0, eventIndex);
  const lastMarker = prefix.findLast((event) => event.type === 'WorkflowTaskCompleted');
  return { eventIndex, history: parseHistory(prefix), time: (lastMarker ?? prefix[0]).time };
}

/** The run at `cut` from what the sandbox answered, its pending stacks in source lines. */
export function runAtEvent(cut: { eventIndex: number; time: number }, answer: SandboxInspection, locator: BundleLocator): RunAtEvent {
  return {
    eventIndex: cut.eventIndex,
    time: new Date(cut.time),
    info: answer.info,
    pending: answer.stacks === '' ? '' : (answerStackTraceQuery(STACK_TRACE_QUERY, answer.stacks, locator, 0) as string),
    ...(answer.query ? { query: answer.query } : {}),
    logs: answer.logs,
    replayedFrom: answer.replayedFrom,
  };
}

/** The timeline's steps: each activation of `history` with its log lines. */
export function timelineSteps(history: ParsedHistory, logs: InspectedLog[]): TimelineStep[] {
  return history.activations.map(({ jobs, marker, commands }) => ({
    eventIndex: marker.eventId,
    time: new Date(marker.time),
    jobs: jobs.map((job) => job.type),
    commands: commands.map((command) => ({ type: command.type, ...(command.callSite ? { callSite: command.callSite } : {}) })),
    logs: logs.filter((log) => log.eventIndex === marker.eventId),
  }));
}

/** Offline looks have no version and never restore a checkpoint. */
const OFFLINE_VERSION = '';

/** The run at event `options.at` of `history`, replayed here (not on the sandbox threads) against `bundle`, the run's version. */
export async function inspectHistory(bundle: { code: string; sourceMap?: string }, history: ReplayableHistory, options: InspectOptions): Promise<RunAtEvent> {
  checkOptionKeys(options, ['at', 'query', 'args', 'limits'], 'inspect');
  const { events } = readHistory(history);
  const cut = cutHistory(events, options.at);
  const { template, locator } = await offlineBundle(bundle, options.limits);
  const query = options.query === undefined ? undefined : { name: options.query, args: options.args ?? [] };
  return runAtEvent(cut, await located(inspectSandbox(template, OFFLINE_VERSION, cut.history, DEFAULT_REPLAY_LIMITS, cut.time, query), locator), locator);
}

/** Every activation of `history` (up to `until`): its jobs, its commands with their call sites, and its log lines. */
export async function timelineOf(bundle: { code: string; sourceMap?: string }, history: ReplayableHistory, options: { until?: number; limits?: Partial<SandboxLimits> } = {}): Promise<TimelineStep[]> {
  const { events } = readHistory(history);
  const cut = cutHistory(events, options.until ?? events.length);
  const { template, locator } = await offlineBundle(bundle, options.limits);
  const { logs } = await located(inspectSandbox(template, OFFLINE_VERSION, cut.history, DEFAULT_REPLAY_LIMITS, cut.time), locator);
  return timelineSteps(cut.history, logs);
}

/** A divergence met on the way, reported in source lines. */
export async function located<T>(inspection: Promise<T>, locator: BundleLocator): Promise<T> {
  try {
    return await inspection;
  } catch (error) {
    throw error instanceof DeterminismViolationError ? locateDivergences(error, locator) : error;
  }
}

/**
 * The last event at or before `at` after which the history can be cut: not inside an
 * activation (command events follow their marker, so a cut is good where no command follows).
 */
function boundaryAtOrBefore(events: readonly HistoryEvent[], at: number): number {
  for (let id = Math.min(at, events.length); id >= 1; id--) if (canCutAfter(events, id)) return id;
  throw new InvalidArgumentError(`event ${at} is not in the history`);
}
