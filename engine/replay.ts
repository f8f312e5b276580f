/**
 * Replay: rebuilding a run's sandbox state by feeding its recorded activations back into
 * workflow code, checking that the code produces exactly the recorded commands. The engine
 * uses it to bring a run back into memory; `replayHistory` (and `aion replay`) runs the same
 * machinery offline.
 *
 * @module
 */
import { createHash } from 'node:crypto';
import type { Command } from '../common/protocol.js';
import { DEFAULT_LIMITS, QuickJSWasm, type SandboxLimits } from '../sandbox/index.js';
import { loadGuestRuntime } from './bundler.js';
import { DEFAULT_COMMAND_LIMITS, InvalidCommandError, validateActivationResult, type CommandLimits } from './commands/validate.js';
import { AionError, DeterminismViolationError, InvalidArgumentError } from './errors.js';
import { HistoryFormatError, parseHistory, type ParsedHistory, type RecordedActivation } from './history/activations.js';
import type { HistoryEvent } from './history/events.js';
import { commandMatchesEvent, describeCommand, describeEvent, isDeprecatedMarker, isDeprecatedMarkerEvent, jobOf } from './history/mapping.js';
import { RunState } from './run/run-state.js';
import { WorkflowTemplate, type WorkflowSandbox } from './workflow-sandbox.js';

/**
 * Replays the recorded activations of `parsed` into `sandbox`, updating `state` as the
 * history is applied. Activations up to `fromEventId` are already in the sandbox (restored
 * from a snapshot): they only update `state`. Throws `DeterminismViolationError` at the first
 * divergence, and `SandboxCrash` if the sandbox crashes.
 */
export function replayActivations(sandbox: WorkflowSandbox, parsed: ParsedHistory, state: RunState, limits: ReplayLimits, fromEventId = 0): void {
  for (const activation of parsed.activations) {
    for (const job of activation.jobs) state.apply(job);
    if (activation.marker.eventId <= fromEventId) {
      for (const event of activation.commands) state.apply(event);
      continue;
    }
    const historyLength = activation.marker.eventId - 1;
    const raw = sandbox.activate({
      time: activation.marker.time,
      replaying: true,
      historyLength,
      continueAsNewSuggested: historyLength >= state.continueAsNewSuggestedAt,
      patches: activation.commands.flatMap((event) => (event.type === 'MarkerRecorded' ? [event.patchId] : [])),
      jobs: activation.jobs.map(jobOf),
    });
    let commands: Command[];
    try {
      commands = validateActivationResult(raw, state, limits).commands;
    } catch (error) {
      if (!(error instanceof InvalidCommandError)) throw error;
      throw new DeterminismViolationError({ eventIndex: activation.marker.eventId, expected: 'valid commands', actual: error.message });
    }
    matchCommands(commands, activation);
    for (const event of activation.commands) state.apply(event);
  }
  if (parsed.close) state.apply(parsed.close);
}

/** Limits of activations: what validation checks, and when new runs are told to continue as new. */
export interface ReplayLimits extends CommandLimits {
  /** History length from which `workflowInfo().continueAsNewSuggested` is true (recorded per run at its start). */
  continueAsNewSuggestedAt: number;
}

export const DEFAULT_REPLAY_LIMITS: ReplayLimits = { ...DEFAULT_COMMAND_LIMITS, continueAsNewSuggestedAt: 10_000 };

/**
 * Compares what the code produced with what the activation recorded, in order. A deprecated
 * patch marker may be present on one side only.
 */
export function matchCommands(commands: readonly Command[], activation: RecordedActivation): void {
  const recorded = activation.commands;
  let i = 0;
  let j = 0;
  while (i < commands.length || j < recorded.length) {
    const command = commands[i];
    const event = recorded[j];
    if (command && event && commandMatchesEvent(command, event)) {
      i++;
      j++;
      continue;
    }
    if (isDeprecatedMarker(command)) {
      i++;
      continue;
    }
    if (isDeprecatedMarkerEvent(event)) {
      j++;
      continue;
    }
    const lastRecorded = recorded.at(-1)?.eventId ?? activation.marker.eventId;
    throw new DeterminismViolationError({
      eventIndex: event ? event.eventId : lastRecorded + 1,
      expected: event ? describeEvent(event) : `no further command in the activation of event ${activation.marker.eventId}`,
      actual: command ? describeCommand(command) : 'no command',
    });
  }
}

export interface ReplayOptions {
  limits?: Partial<SandboxLimits>;
}

/** Accepts a bare event array or an exported history object (`{ events: [...] }`). */
export type ReplayableHistory = readonly HistoryEvent[] | { events: readonly HistoryEvent[] };

/**
 * Replays `history` against `bundle`. Resolves if the code reproduces every recorded
 * command; rejects with `DeterminismViolationError` (`eventIndex`, `expected`, `actual`)
 * at the first divergence.
 */
export async function replayHistory(bundle: { code: string }, history: ReplayableHistory, options: ReplayOptions = {}): Promise<void> {
  const events = Array.isArray(history) ? history : (history as { events?: unknown }).events;
  if (!Array.isArray(events)) throw new InvalidArgumentError('a history is an array of events, or an object with an `events` array');
  let parsed: ParsedHistory;
  try {
    parsed = parseHistory(events as HistoryEvent[]);
  } catch (error) {
    if (error instanceof HistoryFormatError) throw new InvalidArgumentError(`malformed history at event ${error.eventIndex}: ${error.message}`);
    throw error;
  }
  const template = await cachedTemplate(bundle.code, { ...DEFAULT_LIMITS, ...options.limits });
  const sandbox = await template.newSandbox();
  try {
    replayActivations(sandbox, parsed, new RunState(), DEFAULT_REPLAY_LIMITS);
  } catch (error) {
    if (error instanceof AionError) throw error;
    throw new AionError('DETERMINISM_VIOLATION', `replay failed: ${(error as Error).message}`, { cause: error });
  } finally {
    sandbox.dispose();
  }
}

/** Offline replays of the same code reuse its template (a small cache, by code and limits). */
const templates = new Map<string, Promise<WorkflowTemplate>>();
const TEMPLATE_CACHE_SIZE = 8;

function cachedTemplate(code: string, limits: SandboxLimits): Promise<WorkflowTemplate> {
  const key = createHash('sha256').update(code).update(JSON.stringify(limits)).digest('hex');
  let template = templates.get(key);
  if (!template) {
    template = (async () => WorkflowTemplate.create(await QuickJSWasm.load(), limits, await loadGuestRuntime(), code))();
    template.catch(() => templates.delete(key));
    templates.set(key, template);
    if (templates.size > TEMPLATE_CACHE_SIZE) templates.delete(templates.keys().next().value!);
  }
  return template;
}
