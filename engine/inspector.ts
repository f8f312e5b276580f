/**
 * A run as it was at any event of its history: the history replayed up to there in a
 * throwaway sandbox of the run's own bundle, then asked what the run was — its
 * `workflowInfo()`, what it waited on (in source lines), any query's answer, the log lines so
 * far — and, as a timeline, what each activation received and did.
 *
 * Every look replays from the start (no checkpoints yet): its cost grows with the history.
 *
 * @module
 */
import { STACK_TRACE_QUERY, WORKFLOW_INFO_QUERY, type LogEntry, type QueryResult } from '../common/protocol.js';
import { DEFAULT_LIMITS, type SandboxLimits } from '../sandbox/index.js';
import { DeterminismViolationError, InvalidArgumentError } from './errors.js';
import { parseHistory } from './history/activations.js';
import { isCommandEvent, type HistoryEvent } from './history/events.js';
import { locateDivergences } from './divergence.js';
import { checkOptionKeys } from './input.js';
import { DEFAULT_REPLAY_LIMITS, replayActivations } from './replay.js';
import { offlineTemplate, readHistory, type ReplayableHistory } from './replay-history.js';
import { RunState } from './run/run-state.js';
import { BundleLocator, splitInlineSourceMap } from './source-maps.js';
import { answerStackTraceQuery } from './stack-traces.js';

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
  /** The event the state is after (`at`, or the end of the activation before it). */
  eventIndex: number;
  /** The time the workflow saw then. */
  time: Date;
  /** `workflowInfo()` as the workflow saw it then (JSON). */
  info: Record<string, unknown>;
  /** What the run waited on, one stack per pending operation, in source lines (the `__stack_trace` query). */
  pending: string;
  /** The answer to `query`, if one was asked. */
  query?: QueryResult;
  logs: InspectedLog[];
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

/** The run at event `options.at` of `history`, replayed against `bundle` (the run's version). */
export async function inspectHistory(bundle: { code: string; sourceMap?: string }, history: ReplayableHistory, options: InspectOptions): Promise<RunAtEvent> {
  checkOptionKeys(options, ['at', 'query', 'args', 'limits'], 'inspect');
  const { events } = readHistory(history);
  if (!Number.isInteger(options.at) || options.at < 1) throw new InvalidArgumentError(`at must be an event index of the history (1 to ${events.length})`);
  const eventIndex = boundaryAtOrBefore(events, options.at);
  const { sandbox, logs, locator } = await replayPrefix(bundle, events.slice(0, eventIndex), options.limits);
  try {
    const time = events[eventIndex - 1].time;
    const answer = (name: string, args: unknown[] = []) => sandbox.query(name, args, time);
    const info = answer(WORKFLOW_INFO_QUERY);
    const stacks = answer(STACK_TRACE_QUERY);
    return {
      eventIndex,
      time: new Date(time),
      info: info.ok ? (info.result as Record<string, unknown>) : {},
      pending: stacks.ok ? (answerStackTraceQuery(STACK_TRACE_QUERY, String(stacks.result), locator, 0) as string) : '',
      ...(options.query !== undefined ? { query: answer(options.query, options.args ?? []) } : {}),
      logs,
    };
  } finally {
    sandbox.dispose();
  }
}

/** Every activation of `history` (up to `until`): its jobs, its commands with their call sites, and its log lines. */
export async function timelineOf(bundle: { code: string; sourceMap?: string }, history: ReplayableHistory, options: { until?: number; limits?: Partial<SandboxLimits> } = {}): Promise<TimelineStep[]> {
  const { events } = readHistory(history);
  const until = options.until === undefined ? events.length : boundaryAtOrBefore(events, options.until);
  const prefix = events.slice(0, until);
  const { sandbox, logs } = await replayPrefix(bundle, prefix, options.limits);
  sandbox.dispose();
  return parseHistory(prefix).activations.map(({ jobs, marker, commands }) => ({
    eventIndex: marker.eventId,
    time: new Date(marker.time),
    jobs: jobs.map((job) => job.type),
    commands: commands.map((command) => ({ type: command.type, ...(command.callSite ? { callSite: command.callSite } : {}) })),
    logs: logs.filter((log) => log.eventIndex === marker.eventId),
  }));
}

/** Replays a prefix of a history, keeping the workflow's log lines; divergences are reported in source lines. */
async function replayPrefix(bundle: { code: string; sourceMap?: string }, prefix: HistoryEvent[], limits: Partial<SandboxLimits> | undefined) {
  const { code, sourceMap } = splitInlineSourceMap(bundle.code);
  const locator = new BundleLocator(bundle.sourceMap ?? sourceMap);
  const template = await offlineTemplate(code, { ...DEFAULT_LIMITS, ...limits });
  const sandbox = await template.newSandbox();
  const logs: InspectedLog[] = [];
  try {
    replayActivations(sandbox, parseHistory(prefix), new RunState(), DEFAULT_REPLAY_LIMITS, {
      onLogs: (eventIndex, entries) => logs.push(...entries.map((entry) => ({ ...entry, eventIndex }))),
    });
  } catch (error) {
    sandbox.dispose();
    throw error instanceof DeterminismViolationError ? locateDivergences(error, locator) : error;
  }
  return { sandbox, logs, locator };
}

/**
 * The last event at or before `at` after which the history can be cut: not inside an
 * activation (command events follow their marker, so a cut is good where no command follows).
 */
function boundaryAtOrBefore(events: readonly HistoryEvent[], at: number): number {
  for (let id = Math.min(at, events.length); id >= 1; id--) {
    const next = events[id];
    if (!next || !isCommandEvent(next)) return id;
  }
  throw new InvalidArgumentError(`event ${at} is not in the history`);
}
