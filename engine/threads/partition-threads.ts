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
import { lockPartitionedFolder, openFolderPart, openMemoryPart } from '../../store/open.js';
import { checkPartitionCount } from '../../store/partitions.js';
import type { EngineOptions } from '../engine.js';
import { EngineClosedError, InvalidArgumentError } from '../errors.js';
import type { HistoryEvent } from '../history/events.js';
import type { Logger } from '../logger.js';
import { defaultThreadCount } from '../sandboxes/sandbox-threads.js';
import type { ForwardedEvent, MainServices } from './partition-service.js';
import type { ActivityNames, MainActivityRunner } from './main-activities.js';
import { Placement } from './placement.js';
import { PortRpc, rebuildError, type Handlers, type NoticeHandlers, type SentError } from './port-rpc.js';
import { RemoteStore, serveStore } from './remote-store.js';
import { startWorker } from './start-worker.js';
import { ThreadedTaskPolls } from './task-polls.js';

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
  'dataDir' | 'sync' | 'acceptDataLoss' | 'limits' | 'commandLimits' | 'maxResidentBytes' | 'maxResidentRuns' | 'supervision' | 'sandboxThreads' | 'workflowFailureErrorTypes' | 'checkpoints' | 'activitiesModule'
>;

/** A message a partition thread posts to its parent. */
export type ThreadLifecycle = { kind: 'serving' } | { kind: 'failed'; error: SentError } | { kind: 'closed' } | { kind: 'log'; level: keyof Logger; attributes: object; message: string };

/** Validates the options of a threaded engine; returns the thread count. */
export function checkThreadedOptions(options: EngineOptions): { threads: number } {
  const { threads } = options;
  if (typeof threads !== 'number' || !Number.isInteger(threads) || threads < 1 || threads > 256) throw new InvalidArgumentError('threads must be an integer from 1 to 256');
  if (options.store !== undefined) throw new InvalidArgumentError('threads open the data folder (or in-memory partitions) themselves: give dataDir, not a store');
  if (options.activitiesModule !== undefined && typeof options.activitiesModule !== 'string') throw new InvalidArgumentError('activitiesModule must be a path or file URL');
  return { threads };
}

export class PartitionThreads {
  private mainServices: ((services: MainServices) => void) | undefined;
  private readonly mainReady = new Promise<MainServices>((resolve) => (this.mainServices = resolve));
  /** Engine calls with each thread, by its number. */
  readonly all: PortRpc[];
  readonly placement: Placement;
  /** Remote workers' polls, across the threads' task queues. */
  readonly taskPolls: ThreadedTaskPolls;

  private constructor(
    private readonly workers: Worker[],
    mainPorts: MessagePort[],
    /** This thread's store: the control store, and every partition through its owner. */
    readonly store: PartitionedEventStore<HistoryEvent>,
    ownerOf: (partition: number) => number,
  ) {
    this.all = mainPorts.map((port, thread) => new PortRpc(port, this.servedTo(thread)));
    this.placement = new Placement(store.partitionCount, new Set(), store, (partition) => this.all[ownerOf(partition)]);
    this.taskPolls = new ThreadedTaskPolls(this.all);
  }

  /** What this thread serves partition thread `thread` (answered once its engine exists). */
  private servedTo(thread: number): { handlers: Handlers; notices: NoticeHandlers } {
    const main = () => this.mainReady;
    return {
      handlers: {
        admitStart: async ([namespace]) => (await main()).admitStart(namespace as string),
        runActivity: async ([call]) => (await main()).activities.run(thread, this.all[thread], call as Parameters<MainActivityRunner['run']>[2]),
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

  static async start(options: EngineOptions, { threads }: { threads: number }, logger: Logger, mainActivities: ActivityNames): Promise<PartitionThreads> {
    const { partitions, control, release } = await openControl(options, logger);
    const started: Worker[] = [];
    try {
      if (threads > partitions) throw new InvalidArgumentError(`threads (${threads}) must be at most the partition count (${partitions})`);
      const ownerOf = (partition: number) => partition % threads;
      const data: PartitionThreadData[] = Array.from({ length: threads }, (_, thread) => ({
        thread,
        threads,
        partitions,
        options: threadOptions(options, threads),
        main: undefined as unknown as MessagePort,
        peers: {},
        control: undefined as unknown as MessagePort,
        partitionStores: {},
        serve: [],
        mainActivities,
      }));
      const mainPorts = data.map((thread) => {
        const engine = new MessageChannel();
        thread.main = engine.port2;
        const controlStore = new MessageChannel();
        serveStore(control, controlStore.port1);
        thread.control = controlStore.port2;
        return engine.port1;
      });
      for (let a = 0; a < threads; a++) {
        for (let b = a + 1; b < threads; b++) {
          const { port1, port2 } = new MessageChannel();
          data[a].peers[b] = port1;
          data[b].peers[a] = port2;
        }
      }
      // Each partition's store, served by its owner to this thread and to every other thread.
      const remotes: RemoteStore<HistoryEvent>[] = [];
      for (let partition = 0; partition < partitions; partition++) {
        const owner = data[ownerOf(partition)];
        const toMain = new MessageChannel();
        owner.serve.push({ partition, port: toMain.port2 });
        remotes.push(new RemoteStore<HistoryEvent>(toMain.port1));
        for (const thread of data) {
          if (thread === owner) continue;
          const { port1, port2 } = new MessageChannel();
          owner.serve.push({ partition, port: port2 });
          thread.partitionStores[partition] = port1;
        }
      }
      for (const thread of data) started.push(startWorker(new URL('./partition-thread', import.meta.url), { workerData: thread, transferList: portsOf(thread) }));
      await Promise.all(started.map((worker, thread) => serving(worker, thread, logger)));
      const store = new PartitionedEventStore<HistoryEvent>(control, remotes, { owned: { control: true, partitions: [] }, onClose: release });
      return new PartitionThreads(started, mainPorts, store, ownerOf);
    } catch (error) {
      await Promise.all(started.map(closeParts));
      await control.close();
      release();
      throw error;
    }
  }

  /** What this thread serves the partition threads (once its engine exists). */
  serveMain(services: MainServices): void {
    this.mainServices?.(services);
  }

  /** Tells every partition thread to read namespaces, versions and routes again; resolves once they have. */
  async controlChanged(): Promise<void> {
    await Promise.all(this.all.map((thread) => thread.call('reloadControl', [])));
  }

  /** Opens each thread's engine, which recovers its partitions. */
  async openEngines(): Promise<void> {
    await Promise.all(this.all.map((thread) => thread.call('openEngine', [])));
  }

  /** Closes each thread's engine and databases, then stops the threads. */
  async close(): Promise<void> {
    await Promise.allSettled(this.all.map((thread) => thread.call('close', [])));
    for (const rpc of this.all) rpc.close(new EngineClosedError());
    await Promise.all(this.workers.map((worker) => worker.terminate()));
  }
}

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
  const { dataDir, sync, acceptDataLoss, limits, commandLimits, maxResidentBytes, maxResidentRuns, supervision, sandboxThreads, workflowFailureErrorTypes, checkpoints, activitiesModule } = options;
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
    // Resolved here: a thread resolves a relative path as it likes.
    activitiesModule: activitiesModule === undefined || activitiesModule.startsWith('file:') ? activitiesModule : pathToFileURL(isAbsolute(activitiesModule) ? activitiesModule : resolve(activitiesModule)).href,
  });
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
