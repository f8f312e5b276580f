/**
 * The partition threads of a threaded engine, seen from its main thread: starting them, the
 * ports between every pair (each partition's store served by its owner to the others, the
 * control store served by this thread, engine calls both ways), and stopping them.
 *
 * Opening is in two steps: each thread opens and serves its partitions' databases; once all
 * do, this thread migrates what needs it through them, then each thread opens its engine
 * (recovering its partitions) — so no thread's recovery meets a partition not yet served.
 *
 * @module
 */
import { isAbsolute, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { MessageChannel, type MessagePort, type Worker } from 'node:worker_threads';
import { DEFAULT_PARTITIONS, PartitionedEventStore, type EventStore, type LevelDbStoreOptions, type RunRecord } from '../../store/index.js';
import { StoreError } from '../../store/errors.js';
import { releaseLockOfThisProcess } from '../../store/folder-lock.js';
import { lockPartitionedFolder, openFolderPart, openMemoryPart, partitionFolder } from '../../store/open.js';
import { checkPartitionCount } from '../../store/partitions.js';
import type { EngineOptions } from '../engine.js';
import { EngineClosedError, InvalidArgumentError } from '../errors.js';
import type { HistoryEvent } from '../history/events.js';
import type { Logger } from '../logger.js';
import { SCHEDULE_CHANGES, type ScheduleChange } from '../schedules/schedules.js';
import { defaultThreadCount } from '../sandboxes/sandbox-threads.js';
import type { ForwardedEvent, MainServices } from './partition-service.js';
import type { ActivityNames, MainActivityRunner } from './main-activities.js';
import { Placement } from './placement.js';
import { bounded } from './bounded-wait.js';
import { PortRpc, rebuildError, type Handlers, type NoticeHandlers, type SentError } from './port-rpc.js';
import { RemoteStore, serveStore } from './remote-store.js';
import { startWorker } from './start-worker.js';
import { ThreadedTaskPolls } from './task-polls.js';
import { ThreadLinks } from './thread-links.js';
import { ThreadSupervisor } from './thread-supervisor.js';
import { DEFAULT_THREAD_HANG_MS, ThreadWatchdog } from './thread-watchdog.js';

/** What a partition thread starts with (its `workerData`). */
export interface PartitionThreadData {
  thread: number;
  threads: number;
  partitions: number;
  options: ThreadEngineOptions;
  /** Engine calls with the main thread. */
  main: MessagePort;
  /** Engine calls with each other thread, by its number. */
  peers: Record<number, MessagePort>;
  /** The control store, served by the main thread. */
  control: MessagePort;
  /** Each other partition's store, by partition, served by its owner. */
  partitionStores: Record<number, MessagePort>;
  /** Ports on which this thread serves its partitions' stores: partition and port. */
  serve: { partition: number; port: MessagePort }[];
  /** The activity functions the main thread runs for this one. */
  mainActivities: ActivityNames;
}

/** The engine options a partition thread's engine gets (what can be sent to a thread). */
export type ThreadEngineOptions = Pick<
  EngineOptions,
  'dataDir' | 'sync' | 'acceptDataLoss' | 'limits' | 'commandLimits' | 'maxResidentBytes' | 'maxResidentRuns' | 'supervision' | 'sandboxThreads' | 'workflowFailureErrorTypes' | 'checkpoints' | 'snapshots' | 'activitiesModule'
>;

/** What the other threads are sent when a thread was restarted: ports to it, to serve their partitions to it on, and to its partitions' stores. */
export interface PeerRestarted {
  kind: 'peerRestarted';
  thread: number;
  peer: MessagePort;
  serve: { partition: number; port: MessagePort }[];
  stores: Record<number, MessagePort>;
}

/** A message a partition thread posts to its parent. */
export type ThreadLifecycle = { kind: 'serving' } | { kind: 'failed'; error: SentError } | { kind: 'closed' } | { kind: 'log'; level: keyof Logger; attributes: object; message: string };

/** How many partition threads, and how long one may leave a sign-of-life request unanswered. */
export interface ThreadedOptions {
  threads: number;
  threadHangMs: number;
}

/** Validates the options of a threaded engine. */
export function checkThreadedOptions(options: EngineOptions): ThreadedOptions {
  const { threads } = options;
  if (typeof threads !== 'number' || !Number.isInteger(threads) || threads < 1 || threads > 256) throw new InvalidArgumentError('threads must be an integer from 1 to 256');
  if (options.store !== undefined) throw new InvalidArgumentError('threads open the data folder (or in-memory partitions) themselves: give dataDir, not a store');
  if (options.activitiesModule !== undefined && typeof options.activitiesModule !== 'string') throw new InvalidArgumentError('activitiesModule must be a path or file URL');
  const { threadHangMs = DEFAULT_THREAD_HANG_MS } = options;
  if (typeof threadHangMs !== 'number' || !Number.isInteger(threadHangMs) || threadHangMs < 100 || threadHangMs > 3_600_000) throw new InvalidArgumentError('threadHangMs must be an integer from 100 to 3600000 (milliseconds)');
  return { threads, threadHangMs };
}

export class PartitionThreads {
  private mainServices: ((services: MainServices) => void) | undefined;
  private readonly mainReady = new Promise<MainServices>((resolve) => (this.mainServices = resolve));
  /** Engine calls with each thread, by its number (replaced when a thread is restarted). */
  readonly links = new ThreadLinks();
  readonly placement: Placement;
  /** Remote workers' polls, across the threads' task queues. */
  readonly taskPolls: ThreadedTaskPolls;
  private readonly supervisor: ThreadSupervisor;
  private watchdog: ThreadWatchdog | undefined;
  /** Threads that died and are not restarted yet. */
  private readonly dead = new Set<number>();
  /** Aborts the restart under way. */
  private restarting: AbortController | undefined;
  private closing = false;

  private constructor(
    private readonly workers: Worker[],
    mainPorts: MessagePort[],
    /** This thread's store: the control store, and every partition through its owner. */
    readonly store: PartitionedEventStore<HistoryEvent>,
    /** Each partition's store, through its owner. */
    private readonly remotes: RemoteStore<HistoryEvent>[],
    private readonly wiring: Wiring,
    private readonly logger: Logger,
    private readonly hangMs: number,
  ) {
    mainPorts.forEach((port, thread) => this.links.set(thread, this.link(thread, port)));
    this.placement = new Placement(store.partitionCount, new Set(), store, this.links, wiring.ownerOf);
    this.taskPolls = new ThreadedTaskPolls(this.links);
    this.supervisor = new ThreadSupervisor(logger, () => this.restartDead());
  }

  /** The engine calls with partition thread `thread` over `port`: what this thread serves it, and the error its calls fail with once it is gone. */
  private link(thread: number, port: MessagePort): PortRpc {
    const link: PortRpc = new PortRpc(port, this.servedTo(thread, () => link), () => threadGone(thread));
    return link;
  }

  /** What this thread serves partition thread `thread` over `link` (answered once its engine exists). */
  private servedTo(thread: number, link: () => PortRpc): { handlers: Handlers; notices: NoticeHandlers } {
    const main = () => this.mainReady;
    return {
      handlers: {
        admitStart: async ([namespace]) => (await main()).admitStart(namespace as string),
        runActivity: async ([call]) => (await main()).activities.run(thread, link(), call as Parameters<MainActivityRunner['run']>[2]),
        changeSchedule: async ([change, args]) => {
          if (!SCHEDULE_CHANGES.includes(change as ScheduleChange)) throw new InvalidArgumentError(`schedules have no change ${String(change)}`);
          const { schedules } = await main();
          return (schedules[change as ScheduleChange] as (...args: unknown[]) => Promise<unknown>)(...(args as unknown[]));
        },
      },
      notices: {
        taskQueued: (payload) => {
          const { namespace, taskQueue } = payload as { namespace: string; taskQueue: string };
          this.taskPolls.onQueued(namespace, taskQueue);
        },
        activityCancelled: (payload) => void main().then((services) => services.activities.cancelled(thread, payload as Parameters<MainActivityRunner['cancelled']>[1])),
        scheduledRunClosed: (record) => void main().then((services) => services.scheduledRunClosed(record as RunRecord)),
        events: (events) => {
          void main().then((services) => {
            for (const { name, args } of events as ForwardedEvent[]) services.events.emit(name, ...(args as [never]));
          });
        },
      },
    };
  }

  static async start(options: EngineOptions, { threads, threadHangMs }: ThreadedOptions, logger: Logger, mainActivities: ActivityNames): Promise<PartitionThreads> {
    const { partitions, control, release } = await openControl(options, logger);
    const started: Worker[] = [];
    let wiring: Wiring | undefined;
    try {
      if (threads > partitions) throw new InvalidArgumentError(`threads (${threads}) must be at most the partition count (${partitions})`);
      wiring = new Wiring(options, threads, partitions, control, mainActivities);
      const { data, toMain } = wiring.wire(Array.from({ length: threads }, (_, thread) => thread));
      for (const thread of data.values()) started.push(startThread(thread));
      await Promise.all(started.map((worker, thread) => serving(worker, thread, logger)));
      const remotes = Array.from({ length: partitions }, (_, partition) => new RemoteStore<HistoryEvent>(toMain.get(partition)!));
      const store = new PartitionedEventStore<HistoryEvent>(control, remotes, { owned: { control: true, partitions: [] }, onClose: release });
      return new PartitionThreads(started, [...data.values()].map(({ mainPort }) => mainPort), store, remotes, wiring, logger, threadHangMs);
    } catch (error) {
      await Promise.all(started.map(closeParts));
      // A thread that ended before it closed its databases left its lock files.
      for (let thread = 0; thread < started.length; thread++) wiring?.releaseLocks(thread);
      await control.close();
      release();
      throw error;
    }
  }

  /** What this thread serves the partition threads (once its engine exists). */
  serveMain(services: MainServices): void {
    this.mainServices?.(services);
  }

  /** Tells every partition thread to read namespaces, versions and routes again; resolves once they have (a thread being restarted reads them once it is back). */
  async controlChanged(): Promise<void> {
    await Promise.all(this.links.live().map((thread) => thread.call('reloadControl', [])));
  }

  /** Opens each thread's engine, which recovers its partitions; from then on a thread that dies, or hangs, is restarted. */
  async openEngines(): Promise<void> {
    await Promise.all(this.links.all().map((thread) => thread.call('openEngine', [])));
    this.workers.forEach((worker, thread) => {
      this.supervisor.started(thread);
      this.superviseExit(worker, thread);
    });
    this.watchdog = new ThreadWatchdog(this.links, this.hangMs, (thread, silentMs) => {
      this.logger.error({ thread, silentMs }, `partition thread ${thread} has not answered for ${silentMs} ms; stopping it`);
      void this.workers[thread].terminate();
    });
  }

  /**
   * Closes each thread's engine and databases, then stops the threads — those being restarted
   * too, and one that does not close in time. The lock files of threads that did not close
   * their databases (they died, or were stopped) are removed once they have ended.
   */
  async close(): Promise<void> {
    this.closing = true;
    this.watchdog?.stop();
    this.supervisor.stop();
    await Promise.allSettled(this.links.live().map((thread) => bounded(thread.call('close', []), CLOSE_MS, 'closing a partition thread')));
    this.links.close();
    await Promise.all(this.workers.map((worker) => worker.terminate()));
    await this.supervisor.idle();
    for (let thread = 0; thread < this.workers.length; thread++) this.wiring.releaseLocks(thread);
  }

  private superviseExit(worker: Worker, thread: number): void {
    worker.once('exit', (code) => {
      if (this.closing) return;
      // A restart under way may have sent this thread ports it never took: it gives up, and the next one takes this thread too.
      this.restarting?.abort(new Error(`partition thread ${thread} ended during the restart`));
      this.dead.add(thread);
      void this.mainReady.then((services) => services.activities.threadGone(thread));
      this.supervisor.died(thread, code);
    });
  }

  /**
   * Starts new threads in place of every thread that died, together: a thread's recovery
   * reads the outbox receipts of every partition, so two dead threads would wait for each
   * other. As at open: the running threads are sent their ports to the new ones, each new
   * thread opens its partitions' databases and serves them, then each opens its engine, which
   * recovers its partitions as a restarted engine does. A new thread is watched for hanging
   * from when it serves. Whatever fails, the new threads are stopped and restarted (later) as
   * threads that died; so is a closing engine's.
   */
  private async restartDead(): Promise<number[]> {
    const threads = [...this.dead].sort((a, b) => a - b);
    if (threads.length === 0 || this.closing) return [];
    const started: { thread: number; worker: Worker; link: PortRpc }[] = [];
    let wired: Wired | undefined;
    const restarting = (this.restarting = new AbortController());
    const stillClosing = () => {
      if (this.closing) throw new EngineClosedError();
    };
    try {
      for (const thread of threads) this.wiring.releaseLocks(thread);
      wired = this.wiring.wire(threads);
      const { data, notices, toMain } = wired;
      for (const { to, notice } of notices) this.workers[to].postMessage(notice, [notice.peer, ...notice.serve.map(({ port }) => port), ...Object.values(notice.stores)]);
      for (const thread of threads) {
        const worker = startThread(data.get(thread)!);
        this.workers[thread] = worker;
        this.dead.delete(thread);
        this.superviseExit(worker, thread);
        started.push({ thread, worker, link: this.link(thread, data.get(thread)!.mainPort) });
      }
      await bounded(Promise.all(started.map(({ thread, worker }) => serving(worker, thread, this.logger))), this.restartTimeoutMs(), 'opening the databases of restarted partition threads', restarting.signal);
      stillClosing();
      for (const [partition, port] of toMain) this.remotes[partition].reconnect(port);
      for (const { thread, link } of started) this.links.set(thread, link, { opening: true });
      await bounded(Promise.all(started.map(({ link }) => link.call('openEngine', []))), this.restartTimeoutMs(), 'recovering the partitions of restarted partition threads', restarting.signal);
      stillClosing();
    } catch (error) {
      await Promise.all(started.map(({ worker }) => worker.terminate()));
      // A thread that was not started (a worker that could not be created) is tried again later; the ports meant for it are closed, so its peers see it gone.
      for (const thread of threads.filter((thread) => !started.some((each) => each.thread === thread))) {
        const data = wired?.data.get(thread);
        if (data) for (const port of [data.mainPort, ...portsOf(data)]) port.close();
        this.supervisor.retry(thread);
      }
      throw error;
    } finally {
      this.restarting = undefined;
    }
    if (!this.wiring.durable) this.logger.warn({ threads }, 'restarted partition threads of an in-memory engine start with empty partitions: the runs they held are gone');
    for (const { thread, link } of started) {
      this.supervisor.started(thread);
      this.links.opened(thread);
      // What changed while it was gone or opening (namespaces, versions, routes); a change made since is told to it as to the others.
      await bounded(link.call('reloadControl', []), this.restartTimeoutMs(), 'reading the control store again').catch((error: unknown) =>
        this.logger.warn({ err: error, thread }, 'a restarted partition thread could not read the control store again'),
      );
    }
    // Effects for the restarted threads' runs that wait for a retry are attempted now.
    void this.mainReady.then((services) => services.retryEffects());
    return threads;
  }

  /** How long restarted threads get to open their databases, and then to recover. */
  private restartTimeoutMs(): number {
    return Math.max(RESTART_TIMEOUT_MS, 2 * this.hangMs);
  }
}

/** The least time restarted threads get to open their databases, and then to recover their partitions. */
const RESTART_TIMEOUT_MS = 60_000;
/** How long a thread gets to close its engine and databases when the engine closes. */
const CLOSE_MS = 10_000;

/** The ports of threads being started — every thread at open, those that died at a restart. */
interface Wired {
  /** What each starting thread is started with, by thread. */
  data: Map<number, PartitionThreadData & { mainPort: MessagePort }>;
  /** What each running thread is sent about each starting thread. */
  notices: { to: number; notice: PeerRestarted }[];
  /** The ports on which the starting threads serve their partitions to this thread, by partition. */
  toMain: Map<number, MessagePort>;
}

/** What each partition thread is started with, and how partitions are assigned to threads. */
class Wiring {
  constructor(
    private readonly options: EngineOptions,
    private readonly threads: number,
    private readonly partitions: number,
    private readonly control: EventStore<HistoryEvent>,
    private readonly mainActivities: ActivityNames,
  ) {}

  readonly ownerOf = (partition: number): number => partition % this.threads;

  /** Whether the partitions outlive their threads (in a data folder), or die with them (in memory). */
  get durable(): boolean {
    return this.options.dataDir !== undefined;
  }

  /**
   * New ports for the threads `starting`: between each of them and this thread (engine calls,
   * the control store), between each of them and every other thread (engine calls), and for
   * each partition between its owner and every other thread that is starting or whose owner
   * is (its store). Ports between two running threads stand.
   */
  wire(starting: readonly number[]): Wired {
    const data = new Map(starting.map((thread) => [thread, this.threadData(thread)]));
    const notices = new Map<string, { to: number; notice: PeerRestarted }>();
    const noticeOf = (to: number, thread: number) => notices.get(`${to}:${thread}`)!.notice;
    for (const [thread, own] of data) {
      for (let peer = 0; peer < this.threads; peer++) {
        // A pair of starting threads is wired once.
        if (peer === thread || (data.has(peer) && peer < thread)) continue;
        const { port1, port2 } = new MessageChannel();
        own.peers[peer] = port1;
        const peerData = data.get(peer);
        if (peerData) peerData.peers[thread] = port2;
        else notices.set(`${peer}:${thread}`, { to: peer, notice: { kind: 'peerRestarted', thread, peer: port2, serve: [], stores: {} } });
      }
    }
    const toMain = new Map<number, MessagePort>();
    for (let partition = 0; partition < this.partitions; partition++) {
      const owner = this.ownerOf(partition);
      const ownerData = data.get(owner);
      if (ownerData) {
        const { port1, port2 } = new MessageChannel();
        ownerData.serve.push({ partition, port: port2 });
        toMain.set(partition, port1);
      }
      for (let reader = 0; reader < this.threads; reader++) {
        const readerData = data.get(reader);
        if (reader === owner || (!ownerData && !readerData)) continue;
        const { port1, port2 } = new MessageChannel();
        if (ownerData) ownerData.serve.push({ partition, port: port2 });
        else noticeOf(owner, reader).serve.push({ partition, port: port2 });
        if (readerData) readerData.partitionStores[partition] = port1;
        else noticeOf(reader, owner).stores[partition] = port1;
      }
    }
    return { data, notices: [...notices.values()], toMain };
  }

  /** Thread `thread`'s data with its engine link to this thread and its control store port; `wire` adds the rest. */
  private threadData(thread: number): PartitionThreadData & { mainPort: MessagePort } {
    const engine = new MessageChannel();
    const controlStore = new MessageChannel();
    serveStore(this.control, controlStore.port1);
    return {
      thread,
      threads: this.threads,
      partitions: this.partitions,
      options: threadOptions(this.options, this.threads),
      main: engine.port2,
      peers: {},
      control: controlStore.port2,
      partitionStores: {},
      serve: [],
      mainActivities: this.mainActivities,
      mainPort: engine.port1,
    };
  }

  /**
   * Removes the lock files of `thread`'s partitions that name this process: a thread that died
   * (or was stopped) closed its databases as it ended (classic-level closes them when a
   * thread's environment is torn down), but not its lock files.
   */
  releaseLocks(thread: number): void {
    const { dataDir } = this.options;
    if (dataDir === undefined) return;
    for (let partition = thread; partition < this.partitions; partition += this.threads) releaseLockOfThisProcess(partitionFolder(dataDir, partition));
  }
}

/** The error calls to partition thread `thread` fail with once it is gone (retried by the caller once it is restarted). */
export const threadGone = (thread: number): StoreError => new StoreError('AION_STORE_UNAVAILABLE', `partition thread ${thread} stopped; its partitions are unavailable until it is restarted`);

/** The control store of a threaded engine, opened by the main thread, and the folder's partition count. */
async function openControl(options: EngineOptions, logger: Logger): Promise<{ partitions: number; control: EventStore<HistoryEvent>; release: () => void }> {
  if (options.dataDir === undefined) {
    const partitions = checkPartitionCount(options.partitions ?? DEFAULT_PARTITIONS);
    return { partitions, control: await openMemoryPart<HistoryEvent>(partitions), release: () => undefined };
  }
  const { partitions, lock } = lockPartitionedFolder(options.dataDir, options.partitions);
  try {
    const control = await openFolderPart<HistoryEvent>(options.dataDir, 'control', partitions, storeOptions(options, logger));
    return { partitions, control, release: () => lock.release() };
  } catch (error) {
    lock.release();
    throw error;
  }
}

/** How a thread's databases are opened (what they report goes to the engine's logger). */
export function storeOptions(options: ThreadEngineOptions, logger: Logger): LevelDbStoreOptions {
  return {
    sync: options.sync ?? true,
    acceptDataLoss: options.acceptDataLoss,
    onDataLossAccepted: (damage) => logger.error({ dataDir: options.dataDir, damage }, 'opened a damaged data folder (acceptDataLoss): what it lost stays lost'),
    onWarning: (message) => logger.warn({ dataDir: options.dataDir }, message),
  };
}

/** What a thread's engine is opened with: the engine's options (each thread takes its share of the budgets), sandbox threads shared out. */
function threadOptions(options: EngineOptions, threads: number): ThreadEngineOptions {
  const { dataDir, sync, acceptDataLoss, limits, commandLimits, maxResidentBytes, maxResidentRuns, supervision, sandboxThreads, workflowFailureErrorTypes, checkpoints, snapshots, activitiesModule } = options;
  const defined = <T extends object>(value: T): T => Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as T;
  return defined({
    dataDir,
    sync,
    acceptDataLoss,
    limits,
    commandLimits,
    maxResidentBytes,
    maxResidentRuns,
    supervision,
    sandboxThreads: sandboxThreads ?? Math.max(1, Math.floor(defaultThreadCount() / threads)),
    workflowFailureErrorTypes,
    checkpoints,
    snapshots,
    // Resolved here: a thread resolves a relative path as it likes.
    activitiesModule: activitiesModule === undefined || activitiesModule.startsWith('file:') ? activitiesModule : pathToFileURL(isAbsolute(activitiesModule) ? activitiesModule : resolve(activitiesModule)).href,
  });
}

/** Starts a partition thread; the engine link's end that stays here is not sent. */
function startThread({ mainPort: _kept, ...data }: PartitionThreadData & { mainPort: MessagePort }): Worker {
  return startWorker(new URL('./partition-thread', import.meta.url), { workerData: data, transferList: portsOf(data) });
}

function portsOf(data: PartitionThreadData): MessagePort[] {
  return [data.main, data.control, ...Object.values(data.peers), ...Object.values(data.partitionStores), ...data.serve.map(({ port }) => port)];
}

/** Stops a thread that did not open its engine: it closes the databases it opened (releasing their locks) first. */
async function closeParts(worker: Worker): Promise<void> {
  const closed = new Promise<void>((resolve) => {
    worker.on('message', (message: ThreadLifecycle) => message.kind === 'closed' && resolve());
    worker.once('exit', () => resolve());
  });
  worker.postMessage({ kind: 'close' });
  await Promise.race([closed, new Promise<void>((resolve) => setTimeout(resolve, CLOSE_PARTS_MS).unref())]);
  await worker.terminate();
}

/** How long a thread that failed to open gets to close its databases. */
const CLOSE_PARTS_MS = 5_000;

/** Resolves once the thread serves its partitions; rejects with why it could not. Its log lines go to `logger`. */
function serving(worker: Worker, thread: number, logger: Logger): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    worker.on('message', (message: ThreadLifecycle) => {
      if (message.kind === 'serving') resolve();
      else if (message.kind === 'failed') reject(rebuildError(message.error));
      else if (message.kind === 'log') {
        const { err, ...attributes } = message.attributes as { err?: SentError };
        logger[message.level]({ thread, ...attributes, ...(err !== undefined ? { err: rebuildError(err) } : {}) }, message.message);
      }
    });
    worker.on('error', (error) => {
      logger.error({ err: error, thread }, 'a partition thread failed');
      reject(error);
    });
    worker.once('exit', (code) => reject(new Error(`partition thread ${thread} exited (code ${code}) while opening`)));
  });
}
