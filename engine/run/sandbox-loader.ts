/**
 * Brings a run's sandbox back into memory: restored from its snapshot plus the activations
 * recorded after it, or replayed from the start of its history. The history is the source of
 * truth; a snapshot that is missing, stale, corrupt or from another build only costs a replay.
 *
 * @module
 */
import type { EventStore, RunRecord } from '../../store/types.js';
import { parseHistory, type ParsedHistory } from '../history/activations.js';
import type { HistoryEvent } from '../history/events.js';
import type { Logger } from '../logger.js';
import { replayActivations, type ReplayLimits } from '../replay.js';
import { decodeSnapshot } from '../snapshots.js';
import type { WorkflowSandbox, WorkflowTemplate } from '../workflow-sandbox.js';
import { RunState } from './run-state.js';

export interface LoadedSandbox {
  sandbox: WorkflowSandbox;
  from: 'snapshot' | 'replay';
  /** History position of the snapshot it was restored from (0 when replayed). */
  snapshotEventId: number;
}

export interface LoaderServices {
  store: EventStore<HistoryEvent>;
  logger: Logger;
  limits: ReplayLimits;
}

/** A run's whole history as read from the store, and parsed into activations. */
export interface LoadedHistory {
  events: HistoryEvent[];
  parsed: ParsedHistory;
}

/**
 * Loads the run's sandbox from its snapshot, or by replay (`history`: the run's whole history,
 * when the caller has just read it). Throws `DeterminismViolationError` or `SandboxCrash`.
 */
export async function loadSandbox(record: RunRecord, template: WorkflowTemplate, services: LoaderServices, history?: LoadedHistory): Promise<LoadedSandbox> {
  const { store, logger, limits } = services;
  const [{ events, parsed }, snapshot] = await Promise.all([history ?? readParsedHistory(store, record), store.getSnapshot(record.namespace, record.runId)]);
  if (snapshot) {
    const decoded = decodeSnapshot(snapshot, { version: record.version, build: template.build, historyLength: events.length, byteLength: template.memoryBytes });
    if ('image' in decoded) {
      const restored = await template.restore(decoded.image);
      try {
        replayActivations(restored, parsed, new RunState(), limits, snapshot.eventId);
        return { sandbox: restored, from: 'snapshot', snapshotEventId: snapshot.eventId };
      } catch (error) {
        restored.dispose();
        logger.warn({ err: error, runId: record.runId }, 'restoring the snapshot failed; replaying the history instead');
      }
    } else {
      logger.debug({ runId: record.runId, reason: decoded.unusable }, 'snapshot not used; replaying the history');
    }
  }
  return { sandbox: await replaySandbox(template, parsed, limits), from: 'replay', snapshotEventId: 0 };
}

async function readParsedHistory(store: EventStore<HistoryEvent>, record: RunRecord): Promise<LoadedHistory> {
  const events = await store.readHistory(record.namespace, record.runId);
  return { events, parsed: parseHistory(events) };
}

/** A fresh sandbox with the whole history replayed into it (disposed again if replay fails). */
export async function replaySandbox(template: WorkflowTemplate, history: ParsedHistory, limits: ReplayLimits): Promise<WorkflowSandbox> {
  const sandbox = await template.newSandbox();
  try {
    replayActivations(sandbox, history, new RunState(), limits);
    return sandbox;
  } catch (error) {
    sandbox.dispose();
    throw error;
  }
}

/** Whether the run's stored snapshot would be used to bring it back (otherwise: replay). */
export async function hasUsableSnapshot(record: RunRecord, template: WorkflowTemplate, store: EventStore<HistoryEvent>): Promise<boolean> {
  const snapshot = await store.getSnapshot(record.namespace, record.runId);
  if (!snapshot) return false;
  const historyLength = (await store.nextEventId(record.namespace, record.runId)) - 1;
  return 'image' in decodeSnapshot(snapshot, { version: record.version, build: template.build, historyLength, byteLength: template.memoryBytes });
}
