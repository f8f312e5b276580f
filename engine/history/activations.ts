/**
 * Splits a history into the activations that produced it (see the grammar in events.ts).
 *
 * @module
 */
import { RUNTIME_FLAGS } from '../../common/protocol.js';
import {
  isClosingEvent,
  isCommandEvent,
  isJobEvent,
  type CommandEventType,
  type EventOf,
  type HistoryEvent,
  type JobEventType,
} from './events.js';

const KNOWN_FLAGS = new Set<string>(RUNTIME_FLAGS);

export interface RecordedActivation {
  /** The jobs delivered to this activation, in delivery order. */
  jobs: EventOf<JobEventType>[];
  marker: EventOf<'WorkflowTaskCompleted'>;
  /** What the workflow code produced, in order. */
  commands: EventOf<CommandEventType>[];
}

export interface ParsedHistory {
  activations: RecordedActivation[];
  /** Job events recorded after the last activation: not delivered yet. */
  pendingJobs: EventOf<JobEventType>[];
  /** The event that closed the run, if it is closed. */
  close?: HistoryEvent;
}

/**
 * Whether a history may be cut after event `eventId` (a reset's prefix, an inspection): not
 * inside an activation, whose command events follow its marker — so wherever no command follows.
 */
export function canCutAfter(events: readonly HistoryEvent[], eventId: number): boolean {
  const next = events[eventId];
  return next === undefined || !isCommandEvent(next);
}

/** The history does not follow the grammar: it was not written by this engine, or was edited. */
export class HistoryFormatError extends Error {
  override name = 'HistoryFormatError';
  constructor(
    message: string,
    readonly eventIndex: number,
  ) {
    super(message);
  }
}

export function parseHistory(events: readonly HistoryEvent[]): ParsedHistory {
  const activations: RecordedActivation[] = [];
  let pending: EventOf<JobEventType>[] = [];
  let current: RecordedActivation | undefined;
  let afterCrash = false;
  let close: HistoryEvent | undefined;

  events.forEach((event, index) => {
    const where = index + 1;
    if (typeof event !== 'object' || event === null || typeof event.type !== 'string') throw new HistoryFormatError('not an event (an object with eventId and type)', where);
    if (event.eventId !== where) throw new HistoryFormatError(`event ${where} has eventId ${event.eventId}`, where);
    if (close) throw new HistoryFormatError(`${event.type} follows the closing ${close.type}`, where);
    if (index === 0 && event.type !== 'WorkflowStarted') throw new HistoryFormatError(`a history starts with WorkflowStarted, not ${event.type}`, where);
    if (event.type === 'WorkflowStarted') {
      // A behaviour this runtime does not have would replay differently: refuse rather than diverge.
      const flags: unknown = event.flags ?? [];
      if (!Array.isArray(flags)) throw new HistoryFormatError('the flags of WorkflowStarted are not an array', where);
      const unknown: unknown = flags.find((flag) => typeof flag !== 'string' || !KNOWN_FLAGS.has(flag));
      if (unknown !== undefined) throw new HistoryFormatError(`the run was recorded with runtime flag '${String(unknown)}', which this engine does not know (a newer engine recorded it)`, where);
    }
    if (isJobEvent(event)) {
      if (index > 0 && event.type === 'WorkflowStarted') throw new HistoryFormatError('WorkflowStarted after the start', where);
      pending.push(event);
      current = undefined;
      afterCrash = false;
    } else if (event.type === 'WorkflowTaskCompleted') {
      current = { jobs: pending, marker: event, commands: [] };
      activations.push(current);
      pending = [];
      afterCrash = false;
    } else if (event.type === 'WorkflowTaskFailed') {
      current = undefined;
      afterCrash = true;
    } else if (isCommandEvent(event) && current) {
      current.commands.push(event);
      if (isClosingEvent(event)) close = event;
    } else if (event.type === 'WorkflowTerminated' || event.type === 'WorkflowTimedOut' || (afterCrash && event.type === 'WorkflowFailed')) {
      close = event;
    } else {
      throw new HistoryFormatError(`${event.type} is not part of any activation`, where);
    }
  });
  return { activations, pendingJobs: pending, close };
}
