/**
 * Bringing a run's sandbox back, in its sandbox thread: restored from its snapshot plus the
 * activations recorded after it, or replayed from the start of its history. The history is
 * the source of truth; a snapshot that is stale, corrupt or from another build only costs a
 * replay (and is reported, so the engine can log it).
 *
 * @module
 */
import { SandboxCrash } from '../../sandbox/index.js';
import type { ParsedHistory } from '../history/activations.js';
import { replayActivations, type ReplayCheck, type ReplayLimits } from '../replay.js';
import { RunState } from '../run/run-state.js';
import { decodeSnapshot } from '../snapshots.js';
import type { GuestSandbox, GuestTemplate } from '../workflow-sandbox.js';
import type { SnapshotData } from './messages.js';

export interface RestoredSandbox {
  sandbox: GuestSandbox;
  from: 'snapshot' | 'replay';
  /** History position of the snapshot it was restored from (0 when replayed). */
  snapshotEventId: number;
  /** Why a snapshot that existed was not used. */
  unusedSnapshot?: UnusedSnapshot;
}

export interface UnusedSnapshot {
  reason: string;
  /**
   * False when the replay on top of the restored snapshot ran out of its CPU budget, which
   * depends on how loaded the machine is: the same snapshot may serve the next wake. True
   * otherwise (another build or version, a damaged image, a restore that diverges or crashes
   * the same way every time, its limits being part of the build): reading it again would only cost.
   */
  permanent: boolean;
}

/** Throws `DeterminismViolationError` or `SandboxCrash` when the history does not replay. */
export async function restoreSandbox(
  template: GuestTemplate,
  history: ParsedHistory,
  historyLength: number,
  snapshot: SnapshotData | undefined,
  limits: ReplayLimits,
): Promise<RestoredSandbox> {
  let unusedSnapshot: UnusedSnapshot | undefined;
  if (snapshot) {
    const decoded = decodeSnapshot(snapshot, { version: snapshot.version, build: template.build, historyLength, byteLength: template.memoryBytes });
    if ('image' in decoded) {
      const restored = await template.restore(decoded.image);
      try {
        replayActivations(restored, history, new RunState(), limits, { fromEventId: snapshot.eventId });
        return { sandbox: restored, from: 'snapshot', snapshotEventId: snapshot.eventId };
      } catch (error) {
        restored.dispose();
        unusedSnapshot = { reason: `restoring it failed (${(error as Error).message})`, permanent: !(error instanceof SandboxCrash && error.kind === 'cpu-budget') };
      }
    } else {
      unusedSnapshot = { reason: decoded.unusable, permanent: true };
    }
  }
  return { sandbox: await replaySandbox(template, history, limits), from: 'replay', snapshotEventId: 0, unusedSnapshot };
}

/** A fresh sandbox with the whole history replayed into it (disposed again if replay fails). */
export async function replaySandbox(template: GuestTemplate, history: ParsedHistory, limits: ReplayLimits, check: ReplayCheck = {}): Promise<GuestSandbox> {
  const sandbox = await template.newSandbox();
  try {
    replayActivations(sandbox, history, new RunState(), limits, check);
    return sandbox;
  } catch (error) {
    sandbox.dispose();
    throw error;
  }
}
