/**
 * A store served to another thread over a port (`serveStore`), and the other thread's view
 * of it (`RemoteStore`, an `EventStore`). A LevelDB handle belongs to the thread that opened
 * it, so the partition threads reach the control store, and each other's partitions, this
 * way; a partition's own runs are never written through it (see docs/architecture.md).
 *
 * @module
 */
import { EventEmitter } from 'node:events';
import type { MessagePort } from 'node:worker_threads';
import { StoreError } from '../../store/errors.js';
import type {
  ActivityTask,
  BundleRecord,
  ControlQuery,
  ControlRecord,
  CountRunsQuery,
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
} from '../../store/types.js';
import { compileQuery, type RunFilter, type VisibilityQuery } from '../visibility.js';
import { PortRpc, rebuildError, sendError } from './port-rpc.js';

/** The store's methods a remote store calls (every one but `close` and the iterator). */
const CALLS = [
  'write',
  'nextEventId',
  'readHistory',
  'getRun',
  'getLatestRunId',
  'listRuns',
  'countRuns',
  'scanRuns',
  'dueEntries',
  'nextDueEntry',
  'listActivityTasks',
  'listOutbox',
  'getSnapshot',
  'getCheckpoint',
  'listCheckpoints',
  'getSchedule',
  'listSchedules',
  'getBundle',
  'listBundles',
  'getTypeVersion',
  'listQuarantined',
  'getControl',
  'listControl',
] as const satisfies readonly (keyof EventStore)[];

type Call = (typeof CALLS)[number];

/**
 * Serves `store` on `port` until the port closes (the store stays open: its owner closes it).
 * Appends are told to the other side only while it listens for them; damaged records are
 * not told at all (the owner quarantines the run: the other threads hold none of its runs).
 */
export function serveStore(store: EventStore, port: MessagePort): PortRpc {
  let appends = false;
  const handlers = Object.fromEntries(CALLS.map((name) => [name, (args: unknown[]) => (store[name] as (...args: unknown[]) => unknown)(...args)]));
  handlers.scanRuns = ([query, filterQuery]) =>
    store.scanRuns(filterQuery === undefined ? (query as ScanRunsQuery) : { ...(query as ScanRunsQuery), filter: compileQuery(filterQuery as VisibilityQuery).filter });
  const rpc = new PortRpc(port, {
    handlers,
    streams: { allRuns: () => store.allRuns() },
    notices: {
      appends: (on) => {
        appends = on === true;
      },
    },
  });
  const sendAvailability = (change: StoreEvents['availability'][0]) =>
    rpc.notify('availability', change.available ? { available: true } : { available: false, error: sendError(change.error) });
  const onAppended = (append: StoreEvents['appended'][0]) => {
    if (appends) rpc.notify('appended', append);
  };
  store.events.on('availability', sendAvailability);
  store.events.on('appended', onAppended);
  port.on('close', () => {
    store.events.off('availability', sendAvailability);
    store.events.off('appended', onAppended);
  });
  return rpc;
}

/** Another thread's store, through the port `serveStore` serves it on. */
export class RemoteStore<E extends StoredEvent = StoredEvent> implements EventStore<E> {
  readonly events = new EventEmitter<StoreEvents>().setMaxListeners(0);
  private rpc: PortRpc;
  private refused: StoreError | undefined;

  constructor(port: MessagePort) {
    this.rpc = this.connect(port);
    // The serving side sends appends only while someone here listens for them.
    const untyped = this.events as EventEmitter;
    untyped.on('newListener', (name: string) => {
      if (name === 'appended' && this.events.listenerCount('appended') === 0) this.rpc.notify('appends', true);
    });
    untyped.on('removeListener', (name: string) => {
      if (name === 'appended' && this.events.listenerCount('appended') === 0) this.rpc.notify('appends', false);
    });
  }

  /** The store again, served on `port` by the thread that replaced the one that died. */
  reconnect(port: MessagePort): void {
    this.rpc = this.connect(port);
    if (this.events.listenerCount('appended') > 0) this.rpc.notify('appends', true);
    if (this.refused !== undefined) this.onAvailability({ available: true });
  }

  private connect(port: MessagePort): PortRpc {
    const gone = () => new StoreError('AION_STORE_UNAVAILABLE', 'the thread serving this part of the store is gone');
    const rpc = new PortRpc(
      port,
      {
        notices: {
          availability: (change) => this.onAvailability(change as { available: true } | { available: false; error: Parameters<typeof rebuildError>[0] }),
          appended: (append) => this.events.emit('appended', append as StoreEvents['appended'][0]),
        },
      },
      gone,
    );
    // A thread that died takes its partitions with it until it is restarted: the engine reports the store unavailable (health, metrics).
    port.on('close', () => {
      if (this.refused !== undefined || rpc !== this.rpc) return;
      this.refused = gone();
      this.events.emit('availability', { available: false, error: this.refused });
    });
    return rpc;
  }

  get unavailable(): StoreError | undefined {
    return this.refused;
  }

  private onAvailability(change: { available: true } | { available: false; error: Parameters<typeof rebuildError>[0] }): void {
    if (change.available) {
      this.refused = undefined;
      this.events.emit('availability', { available: true });
    } else {
      this.refused = rebuildError(change.error) as StoreError;
      this.events.emit('availability', { available: false, error: this.refused });
    }
  }

  private call<T>(method: Call, ...args: unknown[]): Promise<T> {
    return this.rpc.call<T>(method, args);
  }

  write(batch: WriteBatch<E>, options?: { durable?: boolean }): Promise<void> {
    return this.call('write', batch, options);
  }

  nextEventId(namespace: string, runId: string): Promise<number> {
    return this.call('nextEventId', namespace, runId);
  }

  readHistory(namespace: string, runId: string, range?: HistoryRange): Promise<E[]> {
    return this.call('readHistory', namespace, runId, range);
  }

  getRun(namespace: string, runId: string): Promise<RunRecord | undefined> {
    return this.call('getRun', namespace, runId);
  }

  getLatestRunId(namespace: string, workflowId: string): Promise<string | undefined> {
    return this.call('getLatestRunId', namespace, workflowId);
  }

  listRuns(query: ListRunsQuery): Promise<RunRecord[]> {
    return this.call('listRuns', query);
  }

  countRuns(query: CountRunsQuery): Promise<number> {
    return this.call('countRuns', query);
  }

  /** A filter cannot cross as a function: the visibility query it was compiled from does, and is compiled again there. */
  scanRuns(query: ScanRunsQuery): Promise<RunPage> {
    const { filter, ...sent } = query;
    if (filter === undefined) return this.call('scanRuns', sent);
    const filterQuery = (filter as RunFilter).query;
    if (filterQuery === undefined) return Promise.reject(new StoreError('AION_STORE_INVALID_VALUE', 'a scan filter sent to another thread must come from compileQuery'));
    return this.call('scanRuns', sent, filterQuery);
  }

  allRuns(): AsyncIterable<RunRecord> {
    return this.rpc.stream<RunRecord>('allRuns', []);
  }

  dueEntries(upTo: number, limit?: number): Promise<DueEntry[]> {
    return this.call('dueEntries', upTo, limit);
  }

  nextDueEntry(): Promise<DueEntry | undefined> {
    return this.call('nextDueEntry');
  }

  listActivityTasks(): Promise<ActivityTask[]> {
    return this.call('listActivityTasks');
  }

  listOutbox(): Promise<OutboxEntry[]> {
    return this.call('listOutbox');
  }

  getSnapshot(namespace: string, runId: string): Promise<SnapshotRecord | undefined> {
    return this.call('getSnapshot', namespace, runId);
  }

  getCheckpoint(namespace: string, runId: string, atOrBefore: number): Promise<StoredCheckpoint | undefined> {
    return this.call('getCheckpoint', namespace, runId, atOrBefore);
  }

  listCheckpoints(namespace: string, runId: string): Promise<number[]> {
    return this.call('listCheckpoints', namespace, runId);
  }

  getSchedule(namespace: string, scheduleId: string): Promise<ScheduleRecord | undefined> {
    return this.call('getSchedule', namespace, scheduleId);
  }

  listSchedules(namespace?: string): Promise<ScheduleRecord[]> {
    return this.call('listSchedules', namespace);
  }

  getBundle(version: string): Promise<BundleRecord | undefined> {
    return this.call('getBundle', version);
  }

  listBundles(): Promise<BundleRecord[]> {
    return this.call('listBundles');
  }

  getTypeVersion(namespace: string, workflowType: string): Promise<string | undefined> {
    return this.call('getTypeVersion', namespace, workflowType);
  }

  listQuarantined(): Promise<QuarantineRecord[]> {
    return this.call('listQuarantined');
  }

  getControl(kind: string, id: string): Promise<ControlRecord | undefined> {
    return this.call('getControl', kind, id);
  }

  listControl(kind: string, query?: ControlQuery): Promise<ControlRecord[]> {
    return this.call('listControl', kind, query);
  }

  /** Closes this side's port; the store itself stays with its owner. */
  async close(): Promise<void> {
    this.rpc.close(new StoreError('AION_STORE_CLOSED', 'the store is closed'));
  }
}
