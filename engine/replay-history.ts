/**
 * `replayHistory`: replays an exported history offline against a bundle (the library call
 * behind `aion replay`), with the same machinery the engine uses to bring runs back.
 *
 * @module
 */
import { createHash } from 'node:crypto';
import { fromFailureInfo } from '../common/failures.js';
import type { ActivationResult, LogEntry } from '../common/protocol.js';
import { DEFAULT_LIMITS, QuickJSWasm, SandboxCrash, type SandboxLimits } from '../sandbox/index.js';
import { loadGuestRuntime } from './guest-runtime.js';
import { locateDivergences } from './divergence.js';
import { AionError, DeterminismViolationError, InvalidArgumentError, PendingActivationFailedError } from './errors.js';
import { checkOptionKeys } from './input.js';
import { HistoryFormatError, parseHistory, type ParsedHistory } from './history/activations.js';
import { historySizeOf, type HistoryEvent } from './history/events.js';
import { PromiseCache } from './promise-cache.js';
import { DEFAULT_REPLAY_LIMITS, replayActivations } from './replay.js';
import { RunState } from './run/run-state.js';
import { WORKFLOW_ERROR, WorkflowTaskError } from './supervision.js';
import { InvalidCommandError, validateActivationResult } from './commands/validate.js';
import { jobOf } from './history/mapping.js';
import type { Logger } from './logger.js';
import { splitBundle, type BundleLocator } from './source-maps.js';
import { WorkflowTemplate, type ActivationTarget } from './workflow-sandbox.js';
import { DebugWorkflow, type DebugReplayOptions } from './debug-replay.js';

export interface ReplayOptions {
  limits?: Partial<SandboxLimits>;
  /** Also compare what commands carry: activity and child arguments, timer durations, search attributes, memo, the result. */
  strict?: boolean;
  /** Report every divergence (the error's `divergences`), going on past each as far as the history lets the code run. */
  all?: boolean;
  /** Emits the workflow's log lines as they are replayed, each with its activation's `eventIndex`. */
  logger?: Logger;
  /**
   * Then delivers the jobs the history left pending (after its last activation: what a failed
   * workflow task left to retry), under the same limits: a crash or a bug that failed the
   * run's task rejects with `PendingActivationFailedError`, reproduced locally.
   */
  includePending?: boolean;
  /**
   * Replays in a debug realm of this process's V8 instead of a QuickJS sandbox, so Node's
   * inspector stops at breakpoints in the workflow's sources and at `debugger;` statements
   * (engine/debug-replay.ts). Without limits and isolation: for your own bundles only.
   */
  debug?: boolean | DebugReplayOptions;
}

/** Accepts a bare event array or an exported history object (`{ events: [...] }`). */
export type ReplayableHistory = readonly HistoryEvent[] | { events: readonly HistoryEvent[] };

/**
 * Replays `history` against `bundle` (its source map inline, or given as `sourceMap`).
 * Resolves if the code reproduces every recorded command; rejects with
 * `DeterminismViolationError` at the first divergence (`eventIndex`, `expected`, `actual`, the
 * source lines of both sides, `recordedAt` and `producedAt`, and a `hint`), or with every one
 * of them in `divergences` when `all` is set.
 */
export async function replayHistory(bundle: { code: string; sourceMap?: string }, history: ReplayableHistory, options: ReplayOptions = {}): Promise<void> {
  checkOptionKeys(options, ['limits', 'strict', 'all', 'logger', 'includePending', 'debug'], 'replayHistory');
  const { events, parsed } = readHistory(history);
  const { logger, debug } = options;
  const onLogs = logger && ((eventIndex: number, logs: LogEntry[]) => logs.forEach((entry) => logger[entry.level]({ eventIndex, ...entry.attributes }, entry.message)));
  if (debug) {
    const runtime = await loadGuestRuntime();
    return inUtc(() => replay(DebugWorkflow.create(runtime, bundle, events.length, debug === true ? {} : debug), splitBundle(bundle).locator));
  }
  const { template, locator } = await offlineBundle(bundle, options.limits);
  return replay(await template.newSandbox(), locator);

  function replay(sandbox: ActivationTarget & { dispose(): void }, locator: BundleLocator): void {
    const state = new RunState();
    try {
      replayActivations(sandbox, parsed, state, DEFAULT_REPLAY_LIMITS, { strict: options.strict === true, all: options.all === true, ...(onLogs ? { onLogs } : {}) });
      if (options.includePending) activatePending(sandbox, parsed, state, events, locator, onLogs);
    } catch (error) {
      if (error instanceof DeterminismViolationError) throw locateDivergences(error, locator);
      if (error instanceof AionError) throw error;
      throw new AionError('DETERMINISM_VIOLATION', `replay failed: ${(error as Error).message}`, { cause: error });
    } finally {
      sandbox.dispose();
    }
  }
}

/**
 * Runs `fn` (synchronous: nothing else of the process runs meanwhile) with this process's time
 * zone set to UTC, as every sandbox's is: a debug realm shares the host's V8, whose local-time
 * methods follow `TZ`.
 */
function inUtc<T>(fn: () => T): T {
  const zone = process.env.TZ;
  process.env.TZ = 'UTC';
  try {
    return fn();
  } finally {
    if (zone === undefined) delete process.env.TZ;
    else process.env.TZ = zone;
  }
}

/** Delivers the history's pending jobs in one more activation, as the run's retry would; its failure is the run's, reproduced. */
function activatePending(
  sandbox: ActivationTarget,
  parsed: ParsedHistory,
  state: RunState,
  events: HistoryEvent[],
  locator: BundleLocator,
  onLogs: ((eventIndex: number, logs: LogEntry[]) => void) | undefined,
): void {
  if (parsed.pendingJobs.length === 0) return;
  for (const job of parsed.pendingJobs) state.apply(job);
  const historyLength = events.length;
  let raw: string;
  try {
    raw = sandbox.activate({
      time: events[events.length - 1].time,
      replaying: false,
      historyLength,
      historySize: historySizeOf(events),
      continueAsNewSuggested: historyLength >= state.continueAsNewSuggestedAt,
      jobs: parsed.pendingJobs.map(jobOf),
    });
  } catch (error) {
    if (!(error instanceof SandboxCrash)) throw error;
    throw new PendingActivationFailedError(`the pending jobs crash the sandbox again (${error.kind}): ${error.message}`, error.kind);
  }
  let result: ActivationResult;
  try {
    result = validateActivationResult(raw, state, DEFAULT_REPLAY_LIMITS);
  } catch (error) {
    if (!(error instanceof InvalidCommandError)) throw error;
    throw new PendingActivationFailedError(`the pending jobs make a command the engine refuses: ${error.message}`, 'invalid-command');
  }
  const { logs, taskFailure } = result;
  if (logs.length > 0) onLogs?.(historyLength + 1, logs);
  if (!taskFailure) return;
  const failure = locator.locateFailure(taskFailure);
  throw new PendingActivationFailedError(`the pending jobs fail the workflow task again: ${new WorkflowTaskError(failure).message}`, WORKFLOW_ERROR, fromFailureInfo(failure));
}

/** The events of a history given as events or `{ events }`; anything else is an `InvalidArgumentError`. */
export function eventsOf(history: ReplayableHistory): HistoryEvent[] {
  const events = Array.isArray(history) ? history : (history as { events?: unknown } | null)?.events;
  if (!Array.isArray(events)) throw new InvalidArgumentError('a history is an array of events, or an object with an `events` array');
  return events as HistoryEvent[];
}

/** A history given as events or `{ events }`, parsed; a malformed one is an `InvalidArgumentError` naming the event. */
export function readHistory(history: ReplayableHistory): { events: HistoryEvent[]; parsed: ParsedHistory } {
  const events = eventsOf(history);
  try {
    return { events, parsed: parseHistory(events) };
  } catch (error) {
    if (error instanceof HistoryFormatError) throw new InvalidArgumentError(`malformed history at event ${error.eventIndex}: ${error.message}`);
    throw error;
  }
}

/** What offline replays (and inspections) of `bundle` need: its template in this thread, and its source map. */
export async function offlineBundle(bundle: { code: string; sourceMap?: string }, limits: Partial<SandboxLimits> | undefined): Promise<{ template: WorkflowTemplate; locator: BundleLocator }> {
  const { code, locator } = splitBundle(bundle);
  return { template: await offlineTemplate(code, { ...DEFAULT_LIMITS, ...limits }), locator };
}

/** Offline replays of the same code reuse its template (a small cache, by code and limits). */
const templates = new PromiseCache<WorkflowTemplate>(8);

/** The template offline replays of `code` run in, in this thread. */
function offlineTemplate(code: string, limits: SandboxLimits): Promise<WorkflowTemplate> {
  const key = createHash('sha256').update(code).update(JSON.stringify(limits)).digest('hex');
  return templates.get(key, async () => WorkflowTemplate.create(await QuickJSWasm.load(), limits, await loadGuestRuntime(), code));
}
