/**
 * Replay: rebuilding a run's sandbox state by feeding its recorded activations back into
 * workflow code, checking that the code produces exactly the recorded commands. Sandbox
 * threads use it to bring a run back into memory; `replayHistory` (and `aion replay`) runs
 * the same machinery offline (replay-history.ts).
 *
 * @module
 */
import type { ActivationResult, Command } from '../common/protocol.js';
import { DEFAULT_COMMAND_LIMITS, InvalidCommandError, validateActivationResult, type CommandLimits } from './commands/validate.js';
import { DeterminismViolationError } from './errors.js';
import type { ParsedHistory, RecordedActivation } from './history/activations.js';
import { commandMatchesEvent, describeCommand, describeEvent, isDeprecatedMarker, isDeprecatedMarkerEvent, jobOf } from './history/mapping.js';
import type { RunState } from './run/run-state.js';
import type { WorkflowSandbox } from './workflow-sandbox.js';

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
      historySize: activation.marker.historySize ?? 0,
      continueAsNewSuggested: historyLength >= state.continueAsNewSuggestedAt,
      patches: activation.commands.flatMap((event) => (event.type === 'MarkerRecorded' ? [event.patchId] : [])),
      jobs: activation.jobs.map(jobOf),
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
    const { commands } = result;
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
