/**
 * One `EventStore` over a data folder split into partitions (partitions.ts): a store per
 * partition for its runs (histories, records and indexes, due entries, activity tasks,
 * snapshots, checkpoints, quarantine, the outbox entries its runs record) and a control store
 * for what belongs to no run (namespaces, keys, audit, bundles and their bindings, schedules
 * and their ticks, and the outbox entries schedules record). Each has its own group commit.
 *
 * A batch is split by where its parts live. The engine's batches write one run (or the
 * control plane) at a time, except that the write performing an outbox effect also deletes
 * the entry, which may live in another partition: that deletion is written after the rest,
 * and the rest carries a receipt for the entry, so a crash in between leaves an entry whose
 * effect is recorded — `listOutbox` finds the receipt and drops the entry instead of
 * returning it to be performed twice. Other batches that span partitions are rewrites of
 * records that are correct on their own (visibility reindexing).
 *
 * Lists merge the partitions: runs newest first (a page token holds a cursor per partition),
 * due entries earliest first.
 *
 * @module
 */
import { EventEmitter } from 'node:events';
import { StoreError } from './errors.js';
import { keys, scanIndexPrefix } from './keys.js';
import { partitionOfRun, partitionOfWorkflow } from './partitions.js';
import type {
  ActivityTask,
  BundleRecord,
  ControlQuery,
  CountRunsQuery,
  ControlRecord,
  DueEntry,
  EventStore,
  HistoryRange,
  ListRunsQuery,
  OutboxEntry,
  QuarantineRecord,
  RunPage,
  RunRecord,
  ScanRunsQuery,
  ScheduleRecord,
  SnapshotRecord,
  StoredCheckpoint,
  StoredEvent,
  StoreEvents,
  WriteBatch,
} from './types.js';

/** Control records (in the partition that recorded an effect) naming outbox entries whose effect is recorded. */
const RECEIPT_KIND = 'outbox-receipt';
/**
 * A partition's state in a merged scan's cursor: `''` before its first page, then where it
 * continues (its own cursor), `null` once it has no more.
 */
type PartitionCursor = string | null;

/**
 * What a store's owner serves (default: everything). An engine thread serving some partitions
 * reads every part, but finds work — due entries, activity tasks, quarantined runs, the
 * outbox — only in its own.
 */
export interface Ownership {
  control: boolean;
  partitions: readonly number[];
}

export class PartitionedEventStore<E extends StoredEvent = StoredEvent> implements EventStore<E> {
  readonly events = new EventEmitter<StoreEvents>().setMaxListeners(0);
  /** The control store, then the partitions. */
  private readonly all: readonly EventStore<E>[];
  /** The parts whose work is this store's owner's (see `Ownership`). */
  private readonly owned: ReadonlySet<EventStore<E>>;
  /**
   * The parts whose availability is this store's: a thread serving partitions answers for its
   * own (another thread's partition going away does not stop its runs); a store serving none
   * (the main thread of a threaded engine, which answers health) for every part.
   */
  private readonly answeredFor: readonly EventStore<E>[];
  /** Where each outbox entry this store has seen lives (written or listed here). */
  private readonly outboxHomes = new Map<string, EventStore<E>>();
  private reportedUnavailable = false;

  private readonly onClose: (() => void) | undefined;

  constructor(
    private readonly control: EventStore<E>,
    private readonly partitions: readonly EventStore<E>[],
    options: {
      /** Called once every part is closed (releases the data folder's lock). */
      onClose?: () => void;
      owned?: Ownership;
    } = {},
  ) {
    this.all = [control, ...partitions];
    this.onClose = options.onClose;
    const { owned } = options;
    this.owned = new Set(owned === undefined ? this.all : [...(owned.control ? [control] : []), ...owned.partitions.map((i) => partitions[i])]);
    this.answeredFor = owned === undefined || owned.partitions.length === 0 ? this.all : owned.partitions.map((i) => partitions[i]);
    for (const store of this.all) store.events.on('damaged', (damage) => this.events.emit('damaged', damage));
    for (const store of this.answeredFor) store.events.on('availability', (change) => this.onAvailability(change));
    // Appends are listened to in the parts only while someone listens here (a part in another thread sends each one over).
    const untyped = this.events as EventEmitter;
    const onAppended = (append: StoreEvents['appended'][0]) => this.events.emit('appended', append);
    untyped.on('newListener', (name: string) => {
      if (name === 'appended' && this.events.listenerCount('appended') === 0) for (const store of this.all) store.events.on('appended', onAppended);
    });
    untyped.on('removeListener', (name: string) => {
      if (name === 'appended' && this.events.listenerCount('appended') === 0) for (const store of this.all) store.events.off('appended', onAppended);
    });
  }

  /** Where an outbox entry this store wrote or listed lives: `'control'` or its partition (for the thread that performs it). */
  outboxHomeOf(id: string): 'control' | number | undefined {
    const home = this.outboxHomes.get(id);
    if (home === undefined) return undefined;
    return home === this.control ? 'control' : this.partitions.indexOf(home);
  }

  /** Where an entry written by another thread lives, so the write performing it here deletes it there only. */
  rememberOutboxHome(id: string, home: 'control' | number): void {
    this.outboxHomes.set(id, home === 'control' ? this.control : this.partitions[home]);
  }

  /** Forgets where an entry lives: another thread performed it (and deleted it through its own store). */
  forgetOutboxHome(id: string): void {
    this.outboxHomes.delete(id);
  }

  get partitionCount(): number {
    return this.partitions.length;
  }

  get unavailable(): StoreError | undefined {
    for (const store of this.answeredFor) if (store.unavailable) return store.unavailable;
    return undefined;
  }

  /** Unavailable as soon as one part is (each part's refusal is reported); available again once every part is. */
  private onAvailability(change: StoreEvents['availability'][0]): void {
    if (!change.available) {
      this.reportedUnavailable = true;
      this.events.emit('availability', change);
    } else if (this.reportedUnavailable && this.unavailable === undefined) {
      this.reportedUnavailable = false;
      this.events.emit('availability', change);
    }
  }

  private ofRun(runId: string): EventStore<E> {
    return this.partitions[partitionOfRun(runId, this.partitions.length)];
  }

  private ofWorkflow(namespace: string, workflowId: string): EventStore<E> {
    return this.partitions[partitionOfWorkflow(namespace, workflowId, this.partitions.length)];
  }

  // Writes ------------------------------------------------------------------------------------

  async write(batch: WriteBatch<E>, options?: { durable?: boolean }): Promise<void> {
    const { parts, home, deletions } = this.split(batch);
    // Entries deleted where the batch's own records are go in the same write; the others after it, with receipts.
    const elsewhere = new Map<EventStore<E>, string[]>();
    for (const [store, ids] of deletions) {
      if (store !== home && parts.has(home)) {
        elsewhere.set(store, ids);
      } else {
        const part = partOf(parts, store);
        part.outbox = { ...part.outbox, delete: ids };
      }
    }
    const receipts = [...elsewhere.values()].flat().map((id) => ({ kind: RECEIPT_KIND, id, value: null }));
    if (receipts.length > 0) {
      const own = partOf(parts, home);
      own.control = { ...own.control, put: [...(own.control?.put ?? []), ...receipts] };
    }
    await Promise.all([...parts].map(([store, part]) => store.write(part, options)));
    for (const entry of batch.outbox?.put ?? []) this.outboxHomes.set(entry.id, home);
    for (const id of batch.outbox?.delete ?? []) this.outboxHomes.delete(id);
    if (receipts.length === 0) return;
    // The batch is confirmed once its own records are: an entry left by a failed deletion, or
    // a receipt left behind, is dropped by the next `listOutbox` (at open, or when a
    // partition that refused writes accepts them again).
    try {
      await Promise.all([...elsewhere].map(([store, ids]) => store.write({ outbox: { delete: ids } }, options)));
      await home.write(receiptDeletion(receipts), { durable: false });
    } catch {
      // Left to `listOutbox`, as after a crash here.
    }
  }

  /**
   * The batch's parts by store; `home`, where its outbox entries go (the store of its first
   * run, or the control store); and the outbox entries it deletes, by the store holding them.
   */
  private split(batch: WriteBatch<E>): { parts: Map<EventStore<E>, WriteBatch<E>>; home: EventStore<E>; deletions: Map<EventStore<E>, string[]> } {
    const parts = new Map<EventStore<E>, WriteBatch<E>>();
    const add = <K extends keyof WriteBatch<E>, T>(store: EventStore<E>, field: K, item: T, sub?: 'put' | 'delete') => {
      const part = partOf(parts, store) as Record<string, unknown>;
      if (sub === undefined) ((part[field] ??= []) as T[]).push(item);
      else (((part[field] ??= {}) as Record<string, T[]>)[sub] ??= []).push(item);
    };
    const byRun = <K extends keyof WriteBatch<E>>(field: K, sub: 'put' | 'delete', items: { runId: string }[] | undefined) => {
      for (const item of items ?? []) add(this.ofRun(item.runId), field, item, sub);
    };
    for (const append of batch.histories ?? []) add(this.ofRun(append.runId), 'histories', append);
    for (const run of batch.runs ?? []) add(this.ofRun(run.record.runId), 'runs', run);
    for (const latest of batch.latestRuns ?? []) add(this.ofWorkflow(latest.namespace, latest.workflowId), 'latestRuns', latest);
    for (const sub of ['put', 'delete'] as const) {
      for (const entry of batch.dueEntries?.[sub] ?? []) add(this.ofDueEntry(entry), 'dueEntries', entry, sub);
      for (const item of batch.control?.[sub] ?? []) add(this.control, 'control', item, sub);
      for (const item of batch.schedules?.[sub] ?? []) add(this.control, 'schedules', item, sub);
    }
    byRun('activityTasks', 'put', batch.activityTasks?.put);
    byRun('activityTasks', 'delete', batch.activityTasks?.delete);
    byRun('snapshots', 'put', batch.snapshots?.put);
    byRun('snapshots', 'delete', batch.snapshots?.delete);
    byRun('checkpoints', 'put', batch.checkpoints?.put);
    byRun('checkpoints', 'delete', batch.checkpoints?.delete);
    byRun('quarantine', 'put', batch.quarantine?.put);
    byRun('quarantine', 'delete', batch.quarantine?.delete);
    for (const purge of batch.purgeRuns ?? []) add(this.ofRun(purge.runId), 'purgeRuns', purge);
    for (const item of batch.typeVersions ?? []) add(this.control, 'typeVersions', item);
    for (const item of batch.bundles ?? []) add(this.control, 'bundles', item);
    const first = batch.histories?.[0]?.runId ?? batch.runs?.[0]?.record.runId;
    const home = first !== undefined ? this.ofRun(first) : (parts.keys().next().value ?? this.control);
    for (const entry of batch.outbox?.put ?? []) add(home, 'outbox', entry, 'put');
    const deletions = new Map<EventStore<E>, string[]>();
    for (const id of batch.outbox?.delete ?? []) {
      // An entry this store never saw (written by another process): deleting where it is not is harmless.
      const holders = this.outboxHomes.has(id) ? [this.outboxHomes.get(id)!] : this.all;
      for (const store of holders) deletions.set(store, [...(deletions.get(store) ?? []), id]);
    }
    return { parts, home, deletions };
  }

  /** A schedule's ticks live with the schedule; every other entry with the run it belongs to. */
  private ofDueEntry(entry: DueEntry): EventStore<E> {
    return entry.key === 'schedule' ? this.control : this.ofRun(entry.owner);
  }

  // Reads of one run or workflow ----------------------------------------------------------------

  nextEventId(namespace: string, runId: string): Promise<number> {
    return this.ofRun(runId).nextEventId(namespace, runId);
  }

  readHistory(namespace: string, runId: string, range?: HistoryRange): Promise<E[]> {
    return this.ofRun(runId).readHistory(namespace, runId, range);
  }

  getRun(namespace: string, runId: string): Promise<RunRecord | undefined> {
    return this.ofRun(runId).getRun(namespace, runId);
  }

  getLatestRunId(namespace: string, workflowId: string): Promise<string | undefined> {
    return this.ofWorkflow(namespace, workflowId).getLatestRunId(namespace, workflowId);
  }

  getSnapshot(namespace: string, runId: string): Promise<SnapshotRecord | undefined> {
    return this.ofRun(runId).getSnapshot(namespace, runId);
  }

  getCheckpoint(namespace: string, runId: string, atOrBefore: number): Promise<StoredCheckpoint | undefined> {
    return this.ofRun(runId).getCheckpoint(namespace, runId, atOrBefore);
  }

  listCheckpoints(namespace: string, runId: string): Promise<number[]> {
    return this.ofRun(runId).listCheckpoints(namespace, runId);
  }

  // Reads across partitions ---------------------------------------------------------------------

  async listRuns(query: ListRunsQuery): Promise<RunRecord[]> {
    const out: RunRecord[] = [];
    for (const partition of this.partitions) {
      if (query.limit !== undefined && out.length >= query.limit) break;
      out.push(...(await partition.listRuns({ ...query, ...(query.limit !== undefined ? { limit: query.limit - out.length } : {}) })));
    }
    return out;
  }

  async countRuns(query: CountRunsQuery): Promise<number> {
    const counts = await Promise.all(this.partitions.map((partition) => partition.countRuns(query)));
    const total = counts.reduce((sum, count) => sum + count, 0);
    return query.limit === undefined ? total : Math.min(total, query.limit);
  }

  /**
   * Merges the partitions' indexes newest first, reading each in chunks (about twice its share
   * of the page, more as it is drained), so a page reads about twice its size rather than a
   * page from every partition. Each partition then continues after the last of its runs kept.
   */
  async scanRuns(query: ScanRunsQuery): Promise<RunPage> {
    const prefix = scanIndexPrefix(query);
    const pageSize = query.pageSize ?? Infinity;
    const chunk = pageSize === Infinity ? undefined : Math.max(4, Math.ceil((2 * pageSize) / this.partitions.length));
    const starts = this.cursorsOf(query.cursor);
    const states = starts.map((cursor) => ({ cursor, read: [] as { record: RunRecord; key: string }[], taken: 0 }));
    const readMore = async (i: number): Promise<void> => {
      const state = states[i];
      const page = await this.partitions[i].scanRuns({ ...query, pageSize: chunk, cursor: state.cursor || undefined });
      for (const record of page.runs) state.read.push({ record, key: keys.startedIn(prefix, record.startTime, record.runId) });
      state.cursor = page.nextCursor ?? null;
    };
    const drained = () => states.flatMap((state, i) => (state.taken === state.read.length && state.cursor !== null ? [i] : []));
    const runs: RunRecord[] = [];
    const lastKept: (string | undefined)[] = states.map(() => undefined);
    while (runs.length < pageSize) {
      // Every partition with runs left must show its next one before the newest can be chosen.
      const empty = drained();
      if (empty.length > 0) {
        await Promise.all(empty.map(readMore));
        continue;
      }
      let newest = -1;
      states.forEach((state, i) => {
        if (state.taken < state.read.length && (newest < 0 || state.read[state.taken].key > states[newest].read[states[newest].taken].key)) newest = i;
      });
      if (newest < 0) break;
      const { record, key } = states[newest].read[states[newest].taken++];
      runs.push(record);
      lastKept[newest] = key;
    }
    // A partition with runs read but not kept continues after its last kept one (or where it started).
    const next = states.map((state, i): PartitionCursor => (state.taken < state.read.length ? (lastKept[i] ?? starts[i]) : state.cursor));
    return { runs, ...(next.some((cursor) => cursor !== null) ? { nextCursor: JSON.stringify(next) } : {}) };
  }

  private cursorsOf(cursor: string | undefined): PartitionCursor[] {
    if (cursor === undefined) return this.partitions.map(() => '');
    let parsed: unknown;
    try {
      parsed = JSON.parse(cursor);
    } catch {
      parsed = undefined;
    }
    if (!Array.isArray(parsed) || parsed.length !== this.partitions.length || !parsed.every((c) => c === null || typeof c === 'string')) {
      throw new StoreError('AION_STORE_INVALID_VALUE', `not a cursor of this store's ${this.partitions.length} partitions`);
    }
    return parsed as PartitionCursor[];
  }

  async *allRuns(): AsyncIterable<RunRecord> {
    for (const partition of this.partitions) yield* partition.allRuns();
  }

  async dueEntries(upTo: number, limit?: number): Promise<DueEntry[]> {
    const lists = await Promise.all([...this.owned].map((store) => store.dueEntries(upTo, limit)));
    return lists
      .flat()
      .sort(byDueTime)
      .slice(0, limit ?? Infinity);
  }

  async nextDueEntry(): Promise<DueEntry | undefined> {
    const firsts = await Promise.all([...this.owned].map((store) => store.nextDueEntry()));
    return firsts.filter((entry) => entry !== undefined).sort(byDueTime)[0];
  }

  async listActivityTasks(): Promise<ActivityTask[]> {
    return (await Promise.all(this.ownedPartitions().map((partition) => partition.listActivityTasks()))).flat();
  }

  async listQuarantined(): Promise<QuarantineRecord[]> {
    return (await Promise.all(this.ownedPartitions().map((partition) => partition.listQuarantined()))).flat();
  }

  private ownedPartitions(): EventStore<E>[] {
    return this.partitions.filter((partition) => this.owned.has(partition));
  }

  /**
   * Every entry of the owned parts whose effect is not recorded yet. An entry with a receipt
   * (its effect was recorded, its deletion was not) is dropped here, and so is the receipt.
   * Receipts are read before entries: a receipt whose entry is not read was written before the
   * entries were read, so its entry was already deleted, and dropping that receipt loses
   * nothing. A receipt whose entry is in a part another thread owns stays until that owner
   * has dropped the entry.
   */
  async listOutbox(): Promise<OutboxEntry[]> {
    const receipts = await Promise.all(this.all.map((store) => store.listControl(RECEIPT_KIND)));
    const entries = await Promise.all(this.all.map((store) => store.listOutbox()));
    const done = new Set(receipts.flat().map((receipt) => receipt.id));
    const left: OutboxEntry[] = [];
    const elsewhere = new Set<string>();
    const cleanups: Promise<void>[] = [];
    this.all.forEach((store, i) => {
      if (!this.owned.has(store)) {
        for (const entry of entries[i]) elsewhere.add(entry.id);
        return;
      }
      const performed = entries[i].filter((entry) => done.has(entry.id)).map((entry) => entry.id);
      if (performed.length > 0) cleanups.push(store.write({ outbox: { delete: performed } }));
      for (const entry of entries[i]) {
        if (done.has(entry.id)) continue;
        this.outboxHomes.set(entry.id, store);
        left.push(entry);
      }
    });
    // Receipts go once their entries are gone; a cleanup that fails is done by a later listing.
    const cleaned = await Promise.allSettled(cleanups);
    if (cleaned.every((result) => result.status === 'fulfilled')) {
      await Promise.allSettled(
        receipts.map((own, i) => {
          const dropped = this.owned.has(this.all[i]) ? own.filter((receipt) => !elsewhere.has(receipt.id)) : [];
          return dropped.length === 0 ? undefined : this.all[i].write(receiptDeletion(dropped));
        }),
      );
    }
    return left;
  }

  // The control plane -----------------------------------------------------------------------------

  getSchedule(namespace: string, scheduleId: string): Promise<ScheduleRecord | undefined> {
    return this.control.getSchedule(namespace, scheduleId);
  }

  listSchedules(namespace?: string): Promise<ScheduleRecord[]> {
    return this.control.listSchedules(namespace);
  }

  getBundle(version: string): Promise<BundleRecord | undefined> {
    return this.control.getBundle(version);
  }

  listBundles(): Promise<BundleRecord[]> {
    return this.control.listBundles();
  }

  getTypeVersion(namespace: string, workflowType: string): Promise<string | undefined> {
    return this.control.getTypeVersion(namespace, workflowType);
  }

  getControl(kind: string, id: string): Promise<ControlRecord | undefined> {
    return this.control.getControl(kind, id);
  }

  listControl(kind: string, query?: ControlQuery): Promise<ControlRecord[]> {
    return this.control.listControl(kind, query);
  }

  async close(): Promise<void> {
    const closed = await Promise.allSettled(this.all.map((store) => store.close()));
    this.onClose?.();
    const failed = closed.find((result) => result.status === 'rejected');
    if (failed) throw failed.reason;
  }
}

function partOf<E extends StoredEvent>(parts: Map<EventStore<E>, WriteBatch<E>>, store: EventStore<E>): WriteBatch<E> {
  let part = parts.get(store);
  if (!part) parts.set(store, (part = {}));
  return part;
}

/** The batch dropping receipts (`{ id }` of each) once their entries are gone. */
const receiptDeletion = <E extends StoredEvent>(receipts: { id: string }[]): WriteBatch<E> => ({ control: { delete: receipts.map(({ id }) => ({ kind: RECEIPT_KIND, id })) } });

const byDueTime = (a: DueEntry, b: DueEntry): number => a.dueAt - b.dueAt;
