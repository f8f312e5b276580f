/**
 * What the engine thread and a sandbox thread tell each other. Guest code runs only in
 * sandbox threads; the engine thread never waits on it. Everything here is structured-clone
 * data; memory images travel as transferred buffers.
 *
 * @module
 */
import type { Activation, QueryResult, ValidationResult } from '../../common/protocol.js';
import type { SandboxCrashKind, SandboxLimits } from '../../sandbox/index.js';
import type { SnapshotRecord } from '../../store/types.js';
import type { Divergence } from '../errors.js';
import type { ParsedHistory } from '../history/activations.js';
import type { PayloadLimits } from '../payloads.js';
import type { ReplayLimits } from '../replay.js';
import type { UnusedSnapshot } from './restore.js';
import type { CheckpointUse, SandboxInspection } from '../inspector.js';

/** A bundle version evaluated under given limits: what sandboxes are forked from. */
export interface TemplateSpec {
  /** Names the template in a thread (version and limits). */
  key: string;
  version: string;
  limits: SandboxLimits;
  /** Reset instances the thread keeps ready for new sandboxes of it, and the memory they may hold together. */
  poolSize: number;
  poolBytes: number;
}

/** A snapshot as the store holds it, for a thread to decode and restore. */
export type SnapshotData = Pick<SnapshotRecord, 'eventId' | 'version' | 'build' | 'pages' | 'data' | 'checksum'>;

/** A sandbox's state compressed by its thread: what a snapshot record stores. */
export type CapturedImage = Pick<SnapshotRecord, 'pages' | 'data' | 'checksum'>;

export interface UpdateToValidate {
  updateId: string;
  name: string;
  args: unknown[];
}

/** A version's code: a bundle's JavaScript, or a WebAssembly component's bytes. */
export type GuestCode = string | Uint8Array;

export type ThreadRequest =
  /** Makes a version into a template (at deploy, or before the thread's first sandbox of it): evaluates a bundle, or transpiles and instantiates a component. */
  | { op: 'load'; template: TemplateSpec; code: GuestCode }
  | { op: 'unload'; key: string }
  /** Runs one activation; `create`: the run is new, its sandbox a fresh fork of the template. */
  | { op: 'activate'; sandboxId: string; template: TemplateSpec; create: boolean; activation: Activation; payloadLimits: PayloadLimits }
  /** Runs update validators, each undone afterwards. */
  | { op: 'validate'; sandboxId: string; updates: UpdateToValidate[]; time: number }
  /** Brings a run's sandbox back: restored from its snapshot and the activations after it, or replayed. */
  | { op: 'wake'; sandboxId: string; template: TemplateSpec; history: ParsedHistory; historyLength: number; snapshot?: SnapshotData; limits: ReplayLimits }
  | { op: 'query'; sandboxId: string; name: string; args: unknown[]; time: number }
  /** Replays a closed run into a throwaway sandbox and queries it. */
  | { op: 'queryReplayed'; template: TemplateSpec; history: ParsedHistory; limits: ReplayLimits; name: string; args: unknown[]; time: number }
  /** Replays a history prefix in a throwaway sandbox and asks what the run was then (see inspector.ts). */
  | { op: 'inspect'; template: TemplateSpec; history: ParsedHistory; limits: ReplayLimits; time: number; query?: { name: string; args: unknown[] }; checkpoints?: CheckpointUse }
  /** Replays a history in a throwaway sandbox: resolves if it reproduces, rejects with the divergences otherwise. */
  | { op: 'replay'; template: TemplateSpec; history: ParsedHistory; limits: ReplayLimits; check: { strict: boolean; all: boolean } }
  | { op: 'capture'; sandboxId: string }
  | { op: 'release'; sandboxId: string }
  /** Releases every sandbox whose id starts with `prefix` (an engine that closed). */
  | { op: 'releaseAll'; prefix: string }
  /** Whether a snapshot would restore (without restoring it): why not, or null. */
  | { op: 'checkSnapshot'; template: TemplateSpec; snapshot: SnapshotData; historyLength: number }
  /** What the thread holds. */
  | { op: 'stats' };

/** What each request resolves with. */
export interface ThreadResults {
  load: { workflowTypes: string[]; build: string };
  unload: null;
  /** `checkPayloads`: the raw result is large or deep enough to hold a payload past the limits. */
  activate: { raw: string; checkPayloads: boolean; residentBytes: number };
  validate: { results: (ValidationResult & { updateId: string })[]; residentBytes: number };
  wake: { from: 'snapshot' | 'replay'; snapshotEventId: number; residentBytes: number; unusedSnapshot?: UnusedSnapshot };
  query: QueryResult;
  queryReplayed: QueryResult;
  replay: void;
  inspect: SandboxInspection;
  capture: CapturedImage & { build: string };
  release: null;
  releaseAll: null;
  checkSnapshot: string | null;
  stats: { templates: number; sandboxes: number };
}

/** Why a request failed, as data (errors do not cross threads as objects). */
export type ThreadFailure =
  /** The sandbox crashed (a limit, a trap, a guest entry that threw): the sandbox is gone. */
  | { kind: 'crash'; crashKind: SandboxCrashKind; message: string; guestStack?: string }
  /** Replay met code that does not reproduce the history. */
  | ({ kind: 'violation'; divergences: Divergence[] } & Divergence)
  /** The bundle does not load. */
  | { kind: 'bundle'; message: string }
  /** The thread does not know the sandbox (it was lost with a thread that was stopped). */
  | { kind: 'lost'; message: string }
  | { kind: 'error'; message: string };

/** `busyMs`: the thread's time on the request (what fair scheduling charges its tenant). */
export type ThreadResponse = { id: number; busyMs: number } & ({ ok: true; value: unknown } | { ok: false; failure: ThreadFailure });

/** Data a sandbox thread starts with. */
export interface ThreadData {
  /** The guest runtime's source (engine/guest-runtime.ts), as the engine thread has it. */
  runtimeSource: string;
  /**
   * Shared with the engine thread's watchdog: [0] the deadline (epoch ms) of the unit of
   * guest work running now, 0 when none; [1] the id of the request it belongs to.
   */
  watchdog: SharedArrayBuffer;
}

export type ThreadRequestWithId = ThreadRequest & { id: number };
