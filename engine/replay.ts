/**
 * Replay: rebuilding a run's sandbox state by feeding its recorded activations back into
 * workflow code, checking that the code produces exactly the recorded commands. Sandbox
 * threads use it to bring a run back into memory; `replayHistory` (and `aion replay`) runs
 * the same machinery offline (replay-history.ts).
 *
 * @module
 */
import type { ActivationResult, Command, LogEntry } from '../common/protocol.js';
import { DEFAULT_COMMAND_LIMITS, InvalidCommandError, validateActivationResult, type CommandLimits } from './commands/validate.js';
import { hintFor } from './divergence.js';
import { DeterminismViolationError, type Divergence } from './errors.js';
import type { ParsedHistory, RecordedActivation } from './history/activations.js';
import type { HistoryEvent } from './history/events.js';
import { commandMatchesEvent, describeCommand, describeEvent, isDeprecatedMarker, isDeprecatedMarkerEvent, jobOf, strictDifference } from './history/mapping.js';
import type { RunState } from './run/run-state.js';
import type { ActivationTarget } from './workflow-sandbox.js';

export interface ReplayCheck {
  /** Activations up to this event are already in the sandbox (restored from a snapshot): they only update `state`. */
  fromEventId?: number;
  /** Also compare the values commands carry: arguments, durations, search attributes, memo, result. */
  strict?: boolean;
  /** Go on past a divergence, to the end or as far as the history still lets the code run; report them all. */
  all?: boolean;
  /** Receives the workflow's log lines of each replayed activation (they are silent otherwise). */
  onLogs?: (eventIndex: number, logs: LogEntry[]) => void;
  /** Called after each activation replayed (not those skipped by `fromEventId`) with its last event. */
  afterActivation?: (lastEventId: number) => void;
}

/**
 * Replays the recorded activations of `parsed` into `sandbox`, updating `state` as the
 * history is applied. Throws `DeterminismViolationError` at the first divergence (with `all`,
 * once the replay ended, with every divergence), and `SandboxCrash` if the sandbox crashes.
 */
export function replayActivations(sandbox: ActivationTarget, parsed: ParsedHistory, state: RunState, limits: ReplayLimits, check: ReplayCheck = {}): void {
  const divergences: Divergence[] = [];
  for (const activation of parsed.activations) {
    for (const job of activation.jobs) state.apply(job);
    if (activation.marker.eventId <= (check.fromEventId ?? 0)) {
      for (const event of activation.commands) state.apply(event);
      continue;
    }
    try {
      replayActivation(sandbox, activation, state, limits, check);
      check.afterActivation?.(activation.commands.at(-1)?.eventId ?? activation.marker.eventId);
    } catch (error) {
      if (!check.all || (divergences.length === 0 && !(error instanceof DeterminismViolationError))) throw error;
      if (!(error instanceof DeterminismViolationError)) {
        // Values the code carried differently led it elsewhere: the replay ends here.
        divergences.push({ eventIndex: activation.marker.eventId, expected: 'the activation to complete', actual: `the code failed: ${guestMessage(error)}` });
        break;
      }
      divergences.push(...error.divergences);
      // Past a call that differs the code and the history part ways: what follows would only be its echo.
      if (error.divergences.some((divergence) => divergence.changed === undefined)) break;
    }
    for (const event of activation.commands) state.apply(event);
  }
  if (divergences.length > 0) throw new DeterminismViolationError({ ...divergences[0], divergences });
  if (parsed.close) state.apply(parsed.close);
}

function replayActivation(sandbox: ActivationTarget, activation: RecordedActivation, state: RunState, limits: ReplayLimits, check: ReplayCheck): void {
  const historyLength = activation.marker.eventId - 1;
  const raw = sandbox.activate({
    time: activation.marker.time,
    replaying: true,
    historyLength,
    historySize: activation.marker.historySize ?? 0,
    continueAsNewSuggested: historyLength >= state.continueAsNewSuggestedAt,
    patches: activation.commands.flatMap((event) => (event.type === 'MarkerRecorded' ? [event.patchId] : [])),
    jobs: activation.jobs.map(jobOf),
    ...(check.onLogs ? { logWhileReplaying: true } : {}),
  });
  let result: ActivationResult;
  try {
    result = validateActivationResult(raw, state, limits);
  } catch (error) {
    if (!(error instanceof InvalidCommandError)) throw error;
    throw new DeterminismViolationError({ eventIndex: activation.marker.eventId, expected: 'valid commands', actual: error.message });
  }
  // The recorded activation completed: code whose task fails there does not reproduce it.
  if (result.taskFailure) {
    const { type, message } = result.taskFailure;
    throw new DeterminismViolationError({ eventIndex: activation.marker.eventId, expected: 'the activation to complete', actual: `the workflow task failed: ${type ?? 'Error'}: ${message}` });
  }
  if (result.logs.length > 0) check.onLogs?.(activation.marker.eventId, result.logs);
  matchCommands(result.commands, activation, check);
}

/** Limits of activations: what validation checks, and when new runs are told to continue as new. */
export interface ReplayLimits extends CommandLimits {
  /** History length from which `workflowInfo().continueAsNewSuggested` is true (recorded per run at its start). */
  continueAsNewSuggestedAt: number;
}

export const DEFAULT_REPLAY_LIMITS: ReplayLimits = { ...DEFAULT_COMMAND_LIMITS, continueAsNewSuggestedAt: 10_000 };

/**
 * Compares what the code produced with what the activation recorded, in order (and, if
 * `strict`, the values they carry). A deprecated patch marker may be present on one side only.
 * With `all`, the changed values of matching commands are all reported, up to the first
 * command that does not match.
 */
export function matchCommands(commands: readonly Command[], activation: RecordedActivation, check: Pick<ReplayCheck, 'strict' | 'all'> = {}): void {
  const recorded = activation.commands;
  const found: Divergence[] = [];
  const fail = (): never => {
    throw new DeterminismViolationError({ ...found[0], divergences: found });
  };
  let i = 0;
  let j = 0;
  while (i < commands.length || j < recorded.length) {
    const command = commands[i];
    const event = recorded[j];
    if (command && event && commandMatchesEvent(command, event)) {
      const changed = check.strict ? strictDifference(command, event) : undefined;
      if (changed !== undefined) {
        found.push(divergence(command, event, activation, changed));
        if (!check.all) fail();
      }
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
    found.push(divergence(command, event, activation));
    fail();
  }
  if (found.length > 0) fail();
}

/** An error's message without the guest entry it came through (`__aion_activate: …`). */
const guestMessage = (error: unknown): string => (error instanceof Error ? error.message : String(error)).replace(/^__aion_\w+: /, '');

function divergence(command: Command | undefined, event: HistoryEvent | undefined, activation: RecordedActivation, changed?: string): Divergence {
  const lastRecorded = activation.commands.at(-1)?.eventId ?? activation.marker.eventId;
  return {
    ...(event ? { eventType: event.type } : {}),
    ...(changed !== undefined ? { changed } : {}),
    eventIndex: event ? event.eventId : lastRecorded + 1,
    expected: event ? describeEvent(event) : `no further command in the activation of event ${activation.marker.eventId}`,
    actual: command ? `${describeCommand(command)}${changed !== undefined ? ` with another ${changed}` : ''}` : 'no command',
    ...(event?.callSite !== undefined ? { recordedAt: event.callSite } : {}),
    ...(command?.callSite !== undefined ? { producedAt: command.callSite } : {}),
    hint: hintFor(command, event, changed),
  };
}
