/**
 * The `EventStore` seam: everything the engine persists goes through this interface.
 *
 * The engine is the only writer of a store (one engine owns a data folder; the folder lock
 * enforces it for the embedded default). The store still checks the one invariant a
 * second writer would break — each append names the event id it expects to write next — so
 * a distributed implementation with leases can keep the same contract.
 *
 * Reads of one record (a run record, a history) throw `AION_STORE_CORRUPT` when a record
 * does not read back as written; scans skip such records and report each as `damaged`.
 *
 * @module
 */
import type { EventEmitter } from 'node:events';
import type { StoreError } from './errors.js';
import type { KeyInfo } from './keys.js';

/** Status values, as in the public contract. */
export const RUN_STATUSES = [
  'Running',
  'Completed',
  'Failed',
  'Canceled',
  'Terminated',
  'ContinuedAsNew',
  'TimedOut',
] as const;
export type RunStatus = (typeof RUN_STATUSES)[number];

/** One event of a run's history. The store only needs `eventId`; the engine owns the shape. */
export interface StoredEvent {
  /** 1-based position in the run's history. */
  eventId: number;
  type: string;
}

/** Why a run cannot make progress although it is not closed (nondeterminism, a bug). */
export interface TaskFailure {
  message: string;
  /** History position the failure refers to, when it has one (determinism violations). */
  eventIndex?: number;
  at: number;
}

/** The store's record of a run: what `describe` and `list` read without touching history. */
export interface RunRecord {
  namespace: string;
  workflowId: string;
  runId: string;
  workflowType: string;
  /** Content hash of the bundle this run is pinned to. */
  version: string;
  taskQueue: string;
  status: RunStatus;
  startTime: number;
  closeTime?: number;
  /** Set while the run is stalled by a task failure (cleared when it makes progress). */
  taskFailure?: TaskFailure;
  /** Visibility: the run's current search attributes. */
  searchAttributes?: Record<string, unknown>;
  /** The run's memo (not indexed; shown by describe). */
  memo?: Record<string, unknown>;
  /** Set for a child workflow: its parent run and its sequence number there. */
  parent?: { namespace: string; workflowId: string; runId: string; seq: number };
  /** First run of this workflow's continue-as-new chain. */
  firstExecutionRunId?: string;
  continuedFromRunId?: string;
  /** Set once the run continued as new. */
  continuedToRunId?: string;
  /** Set for runs a schedule started. */
  scheduleId?: string;
  /**
   * Its namespace's sandbox quotas when the run started: its sandboxes run under them all its
   * life, so that a later change cannot break its replay (runs started after get the new ones).
   */
  sandboxQuotas?: { memoryBytes?: number; cpuMsPerActivation?: number };
  /** Set while the run's sandbox keeps crashing: its supervisor's view. */
  supervision?: { crashes: number; lastCrash: { kind: string; message: string; at: number }; restartAt?: number };
}

/** An entry of the due-time index: a durable timer of some kind, owned by a run or a schedule. */
export interface DueEntry {
  /** Epoch ms at which the entry comes due. */
  dueAt: number;
  namespace: string;
  /** The run id (or, for `schedule` entries, the schedule id) the entry belongs to. */
  owner: string;
  /** What comes due, unique within its owner (`timer:3`, `timeout`, `schedule`). */
  key: string;
}

/**
 * An effect on another run (or a new run) that a batch recorded and that has not happened
 * yet. The write that performs the effect deletes the entry in the same batch, so each effect
 * happens exactly once; recovery performs whatever is left.
 */
export interface OutboxEntry {
  /** Unique and deterministic for the effect (a second recording of it is the same entry). */
  id: string;
  namespace: string;
  effect: unknown;
  /**
   * The run (or the workflow's latest run, in `namespace`) the effect acts on: a store shared by
   * several engines keeps the entry with that run's partition, whose engine performs it.
   */
  target?: { runId: string } | { workflowId: string };
}

/**
 * A snapshot of a run's sandbox: the memory pages that differ from its bundle's template, as
 * of history position `eventId`. An optimisation only: losing one costs a replay.
 */
export interface SnapshotRecord {
  namespace: string;
  runId: string;
  /** The last event the snapshot reflects. */
  eventId: number;
  /** Bundle version and sandbox build the pages belong to; a snapshot of another is unusable. */
  version: string;
  build: string;
  /** Page indexes, then the compressed page bytes, and a checksum of the uncompressed bytes. */
  pages: Uint8Array;
  data: Uint8Array;
  checksum: string;
  createdAt: number;
}

/**
 * A checkpoint of a run's sandbox, kept so that looking at the run at an event (the inspector)
 * restores the nearest one and replays only what follows: a snapshot as of `eventId`, with the
 * workflow's log lines up to there. An optimisation only, like snapshots; several per run.
 */
export interface CheckpointRecord extends SnapshotRecord {
  /** The checkpoint this one was captured after (0: the start of the history). */
  previous: number;
  /** The workflow's log lines after `previous`, up to `eventId` (the engine owns their shape). */
  logs: unknown[];
}

/** A checkpoint as read back: its image, and every log line up to it (its chain's, joined). */
export type StoredCheckpoint = SnapshotRecord & { logs: unknown[] };

/**
 * A control-plane record — a namespace, an API key, an audit entry: what hosting keeps beside
 * the runs. The engine owns the shapes; `kind` groups them and `id` orders them within a kind.
 */
export interface ControlRecord {
  kind: string;
  id: string;
  value: unknown;
}

/** A page of one kind's records in `id` order (or reverse), from an exclusive bound. */
export interface ControlQuery {
  /** Only ids starting with this. */
  prefix?: string;
  /** Ids after this one (before it, with `reverse`). */
  after?: string;
  reverse?: boolean;
  limit?: number;
}

/** A schedule's definition and durable state (the engine owns the shape of both). */
export interface ScheduleRecord {
  namespace: string;
  scheduleId: string;
  definition: unknown;
  state: unknown;
}

/** An activity that was scheduled and has not been resolved yet (re-dispatched at recovery). */
export interface ActivityTask {
  namespace: string;
  workflowId: string;
  runId: string;
  workflowType: string;
  seq: number;
  activityType: string;
  args: unknown[];
  taskQueue: string;
  /** Normalised options (milliseconds, retry policy with defaults applied). */
  options: unknown;
  scheduledAt: number;
  /** Attempt to run next (1-based). Advanced as attempts fail, so a restart keeps counting. */
  attempt: number;
  /** Earliest time the next attempt may start (retry backoff). */
  notBefore: number;
  /** Last heartbeat details, handed to the next attempt. */
  heartbeatDetails?: unknown;
  /** The workflow asked the activity to cancel and waits for its end (no further attempt starts). */
  cancelRequested?: boolean;
  /** The current attempt threw `CompleteAsyncError`: it ends when completed from outside, not by running again. */
  asyncCompletion?: boolean;
  /** The remote worker (its identity) the current attempt was handed to: after a restart, the engine waits for its report instead of handing the attempt out again. */
  worker?: string;
  /** Why the previous attempt failed (shown by `describe()` while the next one waits or runs). */
  lastFailure?: { message: string; type?: string };
}

/** A deployed bundle, stored under its content hash. */
export interface BundleRecord {
  version: string;
  /** The code the sandbox evaluates (without the source map a bundle may have carried inline); empty for a component. */
  code: string;
  /** A version deployed as a WebAssembly component: its bytes. */
  component?: Uint8Array;
  /** The bundle's source map (JSON), if it had one. */
  sourceMap?: string;
  workflowTypes: string[];
  deployedAt: number;
}

/**
 * A run set aside because a record of it cannot be read back (see `DamagedRecord`): it makes
 * no progress until an operator restores the data or terminates it.
 */
export interface QuarantineRecord {
  namespace: string;
  runId: string;
  /** What is damaged, and how it was found. */
  reason: string;
  /** The damaged record's key, printable. */
  key: string;
  at: number;
}

/** A record that does not read back as it was written. Scans skip it and report it. */
export interface DamagedRecord {
  /** The record's key, printable (parts separated by `/`). */
  key: string;
  kind: KeyInfo['kind'];
  namespace?: string;
  /** The run (or, for a due entry, the owner) the record belongs to, when the key says. */
  runId?: string;
  error: StoreError;
}

export interface StoreEvents {
  /**
   * A write failed and the store refuses writes (`available: false`), or it was reopened,
   * checked, and accepts writes again (`available: true`).
   */
  availability: [{ available: true } | { available: false; error: StoreError }];
  /** A scan met a record it cannot read (it is skipped). */
  damaged: [DamagedRecord];
  /** A write committed these events to a run's history (in order; emitted once the write resolves). */
  appended: [{ namespace: string; runId: string; events: StoredEvent[] }];
}

/** Appends to one run's history, checked against the id the writer expects to write next. */
export interface HistoryAppend<E extends StoredEvent = StoredEvent> {
  namespace: string;
  runId: string;
  events: E[];
}

/** Everything one activation (or one engine operation) writes, applied atomically. */
export interface WriteBatch<E extends StoredEvent = StoredEvent> {
  histories?: HistoryAppend<E>[];
  /**
   * Run records to create or replace; `previousStatus` lets the store move the status index,
   * `previousSearchAttributes` (the record's before this write, for a record that existed) the
   * search attribute indexes: a write that changes a record's attributes must give it, or the
   * new values get no index entries. `reindex` rewrites every index entry of the record
   * (visibility rebuild).
   */
  runs?: { record: RunRecord; previousStatus?: RunStatus; previousSearchAttributes?: Record<string, unknown>; reindex?: boolean }[];
  /** Points a workflow id at its latest run. */
  latestRuns?: { namespace: string; workflowId: string; runId: string }[];
  dueEntries?: { put?: DueEntry[]; delete?: DueEntry[] };
  activityTasks?: { put?: ActivityTask[]; delete?: { namespace: string; runId: string; seq: number }[] };
  /** Bundle-type bindings: `workflowType` now starts on `version` in `namespace`. */
  /** `version: null` removes the binding (the type has no version to start on). */
  typeVersions?: { namespace: string; workflowType: string; version: string | null }[];
  bundles?: BundleRecord[];
  outbox?: { put?: OutboxEntry[]; delete?: string[] };
  snapshots?: { put?: SnapshotRecord[]; delete?: { namespace: string; runId: string }[] };
  checkpoints?: { put?: CheckpointRecord[]; delete?: { namespace: string; runId: string; eventId: number }[] };
  control?: { put?: ControlRecord[]; delete?: { kind: string; id: string }[] };
  schedules?: { put?: ScheduleRecord[]; delete?: { namespace: string; scheduleId: string }[] };
  quarantine?: { put?: QuarantineRecord[]; delete?: { namespace: string; runId: string }[] };
  /**
   * Runs to delete entirely (retention): history, run record and its index entries, snapshot,
   * checkpoints, and the workflow id's pointer when it still names the run. The engine deletes
   * the run's due entries and activity tasks itself; purging a run that is gone does nothing.
   */
  purgeRuns?: { namespace: string; runId: string }[];
  /**
   * The control records put are keyed so that no other write changes them (an audit entry):
   * in a store several engines share, any of them may write them, whoever serves the control
   * plane.
   */
  anyEngine?: true;
}

export interface ListRunsQuery {
  namespace: string;
  status?: RunStatus;
  workflowType?: string;
  /** Return at most this many (default: all). */
  limit?: number;
}

export interface CountRunsQuery {
  namespace: string;
  status: RunStatus;
  /** Count no further than this (default: all). */
  limit?: number;
}

/** A page of runs, newest first (by start time). */
export interface ScanRunsQuery {
  namespace: string;
  /**
   * Only runs whose search attribute `name` is `value` (a string, number or boolean): read
   * from that value's index when it is indexed (see `attributeIndexPrefix`), before any other.
   */
  attribute?: { name: string; value: unknown };
  /** Only runs of this type (read from the type's index, not by scanning the namespace). */
  workflowType?: string;
  /** Only runs of this status (read from the status's index, unless `workflowType` narrows more). */
  status?: RunStatus;
  /** Only runs started at or after / before this time (epoch ms). */
  startedFrom?: number;
  startedBefore?: number;
  /** Keeps the runs this returns true for. */
  filter?: (record: RunRecord) => boolean;
  /** At most this many runs (default: all). */
  pageSize?: number;
  /** Continues after the page that returned this cursor. */
  cursor?: string;
}

export interface RunPage {
  runs: RunRecord[];
  /** Present when more runs may follow. */
  nextCursor?: string;
}

export interface HistoryRange {
  /** First event id to return (default 1). */
  from?: number;
  /** Last event id to return, inclusive (default: the end). */
  to?: number;
}

/** Who holds a partition's lease (stores several engines share: PostgreSQL) and how far behind its work is. */
export interface PartitionStatus {
  /** The partition (-1: the control plane — schedules, namespaces, deploys). */
  partition: number;
  /** The engine holding the lease (host:pid:random), if any. */
  owner: string | null;
  epoch: number;
  /** Epoch ms until which the lease holds without renewal. */
  expiresAt: number | null;
  /** How long its oldest due entry has been due (ms; 0 when none is). */
  dueLagMs: number;
  /** Effects on other runs recorded and not performed yet. */
  outboxEntries: number;
}

export interface EventStore<E extends StoredEvent = StoredEvent> {
  /** Partitions runs are spread over (absent: 1): a run id must carry its workflow's partition key (partitions.ts). */
  readonly partitionCount?: number;
  /** Availability changes and damaged records. */
  readonly events: EventEmitter<StoreEvents>;
  /** Set while writes are refused: why. */
  readonly unavailable: StoreError | undefined;
  /**
   * Applies a batch atomically and durably (when the store is synced). A partitioned store
   * (partitioned-store.ts) is atomic within a partition: the runs of one workflow id, whose
   * run ids carry its partition key (`runIdFor`); the engine's batches keep to that. Each history append
   * must start at the run's next event id; otherwise the whole batch is refused with
   * `AION_STORE_CONFLICT` and nothing is written. With `durable: false` the batch is still
   * atomic but may be lost in a power failure (for what is only an optimisation: snapshots).
   * A value that cannot be encoded refuses the batch with `AION_STORE_INVALID_VALUE`; while
   * the store is unavailable every write is refused with `AION_STORE_UNAVAILABLE`.
   */
  write(batch: WriteBatch<E>, options?: { durable?: boolean }): Promise<void>;
  /** Id the next event of this run will get (1 for a run with no history). */
  nextEventId(namespace: string, runId: string): Promise<number>;
  readHistory(namespace: string, runId: string, range?: HistoryRange): Promise<E[]>;
  getRun(namespace: string, runId: string): Promise<RunRecord | undefined>;
  getLatestRunId(namespace: string, workflowId: string): Promise<string | undefined>;
  listRuns(query: ListRunsQuery): Promise<RunRecord[]>;
  /** How many runs of the namespace have this status, counting no further than `limit` (from the status index, no record read). */
  countRuns(query: CountRunsQuery): Promise<number>;
  /** Runs newest first, filtered and paged (the visibility scan). */
  scanRuns(query: ScanRunsQuery): Promise<RunPage>;
  /** Every run record of every namespace (visibility rebuild). */
  allRuns(): AsyncIterable<RunRecord>;
  /** Due-time entries with `dueAt <= upTo`, earliest first. */
  dueEntries(upTo: number, limit?: number): Promise<DueEntry[]>;
  /** The earliest entry, if any. */
  nextDueEntry(): Promise<DueEntry | undefined>;
  listActivityTasks(): Promise<ActivityTask[]>;
  listOutbox(): Promise<OutboxEntry[]>;
  getSnapshot(namespace: string, runId: string): Promise<SnapshotRecord | undefined>;
  /**
   * The run's checkpoint with the greatest `eventId` at or before `atOrBefore`, with the log
   * lines of its whole chain; undefined if there is none, or its chain is broken.
   */
  getCheckpoint(namespace: string, runId: string, atOrBefore: number): Promise<StoredCheckpoint | undefined>;
  /** The event ids of the run's checkpoints, ascending. */
  listCheckpoints(namespace: string, runId: string): Promise<number[]>;
  getSchedule(namespace: string, scheduleId: string): Promise<ScheduleRecord | undefined>;
  listSchedules(namespace?: string): Promise<ScheduleRecord[]>;
  getBundle(version: string): Promise<BundleRecord | undefined>;
  listBundles(): Promise<BundleRecord[]>;
  getTypeVersion(namespace: string, workflowType: string): Promise<string | undefined>;
  listQuarantined(): Promise<QuarantineRecord[]>;
  getControl(kind: string, id: string): Promise<ControlRecord | undefined>;
  listControl(kind: string, query?: ControlQuery): Promise<ControlRecord[]>;
  /** Stores with partition leases: this engine's name in them, and each partition's lease and lag. */
  partitionStatus?(): Promise<{ self: string; partitions: PartitionStatus[]; nodes?: ClusterNode[] }>;
  /** Stores several engines serve at once (PostgreSQL in cluster mode): the partitions this one serves. */
  readonly assignment?: PartitionAssignment;
  close(): Promise<void>;
}

/** An engine of a cluster, as its membership row says. */
export interface ClusterNode {
  name: string;
  /** Its API's address, which other nodes forward calls to. */
  address: string;
  /** Epoch ms. */
  startedAt: number;
  lastBeatAt: number;
  /** Whether its last beat is within the lease time (a node frozen or cut off is not). */
  live: boolean;
}

/**
 * The partitions an engine serves of a store it shares with other engines. They change while
 * it runs: it is told to recover the work of those it takes and to stop that of those it gives
 * up, and a write for a partition it does not serve is refused (`AION_STORE_PARTITION_MOVED`).
 */
export interface PartitionAssignment {
  /** This engine's name in the cluster. */
  readonly self: string;
  readonly partitionCount: number;
  /** Whether this engine serves the partition now (holds its lease and is not giving it up). */
  serves(partition: number): boolean;
  /** Whether it serves the control plane (schedules). */
  servesControl(): boolean;
  /** The engine serving a partition, if one does. */
  ownerOf(partition: number): Promise<ClusterNode | undefined>;
  /** The engines of the cluster (this one included). */
  nodes(): Promise<ClusterNode[]>;
  /** Set once by the engine, before the first partition is taken; resolves when that first share's work was recovered. */
  attach(listener: AssignmentListener): Promise<void>;
  /** Tells the other engines that control records changed (namespaces, deploys, routes): they read them again. */
  announceControlChange(): Promise<void>;
}

export interface AssignmentListener {
  /** Partitions taken (`control`: the control plane too): recover their work. */
  gained(partitions: number[], control: boolean): Promise<void>;
  /** Partitions about to be given up: stop their work; their leases are released when this resolves. */
  releasing(partitions: number[]): Promise<void>;
  /** Effects were recorded for partitions this engine serves (a notification, or the periodic sweep). */
  effectsPending(): void;
  /** Another engine changed control records. */
  controlChanged(): void;
}
