/**
 * Divergence reports: a one-line hint at what changed in the code, from what the history
 * recorded and what the code produced, and the code's call sites mapped to its sources.
 *
 * @module
 */
import type { Command } from '../common/protocol.js';
import { DeterminismViolationError, type Divergence } from './errors.js';
import type { HistoryEvent } from './history/events.js';
import { eventTypeOf } from './history/mapping.js';
import type { BundleLocator } from './source-maps.js';

const RANDOM_HINT = 'a random draw (Math.random, uuid4) was added or removed before this point';

/** A guess at the cause, for a command that does not match its event (`changed`: the field a strict replay found changed). */
export function hintFor(command: Command | undefined, event: HistoryEvent | undefined, changed?: string): string {
  if (!command) return 'the code no longer makes this call here: it was removed, or is behind a condition that is now false';
  if (!event) return 'the code makes a call the history does not have: guard new code with patched()';
  if (changed !== undefined) return changed === 'args' && differsInRandomValues(command, event) ? RANDOM_HINT : `its ${changed} changed (checked by a strict replay)`;
  const sameCall = eventTypeOf(command) === event.type && (!('seq' in command) || !('seq' in event) || command.seq === event.seq);
  if (!sameCall) return 'a call was added, removed or reordered before this point (an await, or a branch)';
  if ('workflowId' in command && 'workflowId' in event && command.workflowId !== event.workflowId) {
    return looksRandom(command.workflowId) && looksRandom(event.workflowId) ? `the target workflow id changed: ${RANDOM_HINT}` : 'the target workflow id changed';
  }
  if ('activityType' in command) return 'a different activity is called here';
  if ('workflowType' in command) return 'a different child workflow is started here';
  if ('signalName' in command) return 'a different signal is sent here';
  if ('patchId' in command) return 'a different patch id is checked here';
  return 'the call made here changed';
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/i;
const looksRandom = (value: unknown): boolean => (typeof value === 'string' && UUID.test(value)) || (typeof value === 'number' && value > 0 && value < 1 && !Number.isInteger(value));

/** Whether every difference between the recorded and the produced arguments is a random-looking value (a UUID, a fraction). */
function differsInRandomValues(command: Command, event: HistoryEvent): boolean {
  const produced = 'args' in command ? command.args : undefined;
  const recorded = 'args' in event ? event.args : undefined;
  const differences: [unknown, unknown][] = [];
  collectDifferences(produced, recorded, differences);
  return differences.length > 0 && differences.every(([a, b]) => looksRandom(a) && looksRandom(b));
}

function collectDifferences(a: unknown, b: unknown, into: [unknown, unknown][]): void {
  if (a && b && typeof a === 'object' && typeof b === 'object') {
    for (const key of new Set([...Object.keys(a), ...Object.keys(b)])) collectDifferences((a as Record<string, unknown>)[key], (b as Record<string, unknown>)[key], into);
  } else if (JSON.stringify(a) !== JSON.stringify(b)) {
    into.push([a, b]);
  }
}

/** The error with the code's call sites (bundle `line:column`) mapped through the bundle's source map. */
export function locateDivergences(error: DeterminismViolationError, locator: BundleLocator): DeterminismViolationError {
  const located = (divergence: Divergence): Divergence => {
    const producedAt = divergence.producedAt === undefined ? undefined : (locator.callSite(divergence.producedAt) ?? divergence.producedAt);
    return { ...divergence, ...(producedAt !== undefined ? { producedAt } : {}) };
  };
  const divergences = error.divergences.map(located);
  return new DeterminismViolationError({ ...divergences[0], divergences });
}
