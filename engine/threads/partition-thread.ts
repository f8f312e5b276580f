/**
 * A partition thread's entry: opens its partitions' databases and serves them to the other
 * threads, then (when the main thread says) opens an `Engine` over its partitions — reading
 * the control store and the other partitions through the other threads — and serves the calls
 * forwarded to it (partition-service.ts). See partition-threads.ts for the main thread's side.
 *
 * @module
 */
import { parentPort, workerData, type MessagePort } from 'node:worker_threads';
import { PartitionedEventStore, type EventStore } from '../../store/index.js';
import { openFolderPart, openMemoryPart } from '../../store/open.js';
import type { ActivityFunction } from '../activities/dispatcher.js';
import { Engine } from '../engine.js';
import type { EngineEvents } from '../engine.js';
import type { HistoryEvent } from '../history/events.js';
import type { Logger } from '../logger.js';
import { partitionHandlers, type ForwardedEvent, type PartitionServices } from './partition-service.js';
import { storeOptions, threadGone, type PartitionThreadData, type PeerRestarted, type ThreadLifecycle } from './partition-threads.js';
import { MainActivityProxies } from './main-activities.js';
import { Placement } from './placement.js';
import { PortRpc, sendError } from './port-rpc.js';
import { RemoteStore, serveStore } from './remote-store.js';
import { ThreadLinks } from './thread-links.js';

const data = workerData as PartitionThreadData;
const post = (message: ThreadLifecycle) => parentPort!.postMessage(message);

/** Log lines go to the main thread's logger; an error under `err` crosses as its class and fields. */
const logger: Logger = Object.fromEntries(
  (['debug', 'info', 'warn', 'error'] as const).map((level) => [
    level,
    (attributes: object, message: string) => {
      const { err, ...rest } = attributes as { err?: unknown };
      post({ kind: 'log', level, attributes: { ...cloneableAttributes(rest), ...(err !== undefined ? { err: sendError(err) } : {}) }, message });
    },
  ]),
) as unknown as Logger;

/** Log attributes as JSON (what a log line holds anyway); a value JSON cannot hold as its description. */
function cloneableAttributes(attributes: Record<string, unknown>): Record<string, unknown> {
  try {
    return JSON.parse(JSON.stringify(attributes)) as Record<string, unknown>;
  } catch {
    return Object.fromEntries(Object.entries(attributes).map(([key, value]) => [key, typeof value === 'object' && value !== null ? String(value) : value]));
  }
}

const owned = Array.from({ length: data.partitions }, (_, partition) => partition).filter((partition) => partition % data.threads === data.thread);
let servicesReady: (services: PartitionServices) => void = () => undefined;
const ready = new Promise<PartitionServices>((resolve) => (servicesReady = resolve));
const served = partitionHandlers(ready);
const peers = new ThreadLinks();
const linkTo = (thread: number, port: MessagePort) => peers.set(thread, new PortRpc(port, served, () => threadGone(thread)));
for (const [thread, port] of Object.entries(data.peers)) linkTo(Number(thread), port);

let engine: Engine | undefined;
let store: PartitionedEventStore<HistoryEvent> | undefined;
const local = new Map<number, EventStore<HistoryEvent>>();
/** The other threads' partitions. */
const remotes = new Map(Object.entries(data.partitionStores).map(([partition, port]) => [Number(partition), new RemoteStore<HistoryEvent>(port)]));

const main: PortRpc = new PortRpc(data.main, {
  handlers: { ...served.handlers, openEngine: () => openEngine(), close: () => close(), ping: () => undefined },
  streams: served.streams,
  notices: {
    activityHeartbeat: (payload) => mainActivities.heartbeat(payload as Parameters<MainActivityProxies['heartbeat']>[0]),
  },
});

const mainActivities = new MainActivityProxies(main, logger);

/** The engine's events the main thread emits on its own `engine.events`. */
const FORWARDED: (keyof EngineEvents)[] = ['runParked', 'runPurged', 'storeAvailability', 'activation'];

/** Set when the thread is told to close while it still opens its partitions: it opens no more. */
let closing = false;
const opening = (async () => {
  for (const partition of owned) {
    if (closing) return;
    local.set(partition, data.options.dataDir === undefined ? await openMemoryPart(data.partitions) : await openFolderPart(data.options.dataDir, partition, data.partitions, storeOptions(data.options, logger)));
  }
})();

parentPort!.on('message', (message: { kind: 'close' } | PeerRestarted) => {
  // Asked when opening failed elsewhere, before the thread is stopped: the databases it opened are closed, their locks released.
  if (message.kind === 'close')
    void close().then(
      () => post({ kind: 'closed' }),
      () => post({ kind: 'closed' }),
    );
  else peerRestarted(message);
});

/** Another thread died and was replaced: calls to it, this thread's partitions served to it, and its partitions' stores go through new ports. */
function peerRestarted({ thread, peer, serve, stores }: PeerRestarted): void {
  linkTo(thread, peer);
  for (const { partition, port } of serve) serveStore(local.get(partition)!, port);
  for (const [partition, port] of Object.entries(stores)) remotes.get(Number(partition))!.reconnect(port);
  void ready.then((services) => services.retryEffects());
}

try {
  await opening;
  if (!closing) {
    for (const { partition, port } of data.serve) serveStore(local.get(partition)!, port);
    post({ kind: 'serving' });
  }
} catch (error) {
  await Promise.allSettled([...local.values()].map((part) => part.close()));
  post({ kind: 'failed', error: sendError(error) });
}

async function openEngine(): Promise<void> {
  const parts = Array.from({ length: data.partitions }, (_, partition) => local.get(partition) ?? remotes.get(partition)!);
  store = new PartitionedEventStore<HistoryEvent>(new RemoteStore(data.control), parts, { owned: { control: false, partitions: owned } });
  const placement = new Placement(data.partitions, new Set(owned), store, peers, (partition) => partition % data.threads);
  // Functions the main thread runs, and those of the activities module, run here (which win).
  const onMain = mainActivities.registry(data.mainActivities);
  const here = data.options.activitiesModule === undefined ? {} : await importActivities(data.options.activitiesModule);
  const { activitiesModule: _module, ...options } = data.options;
  engine = await Engine.open({ ...options, activities: { ...onMain.all, ...here }, namespaceActivities: onMain.byNamespace, logger }, { store, placement, main, threads: data.threads, serve: servicesReady });
  // One message per turn of the event loop: activations are many.
  const batch: ForwardedEvent[] = [];
  const send = () => main.notify('events', batch.splice(0));
  for (const name of FORWARDED) engine.events.on(name, (...args: unknown[]) => batch.push({ name, args }) === 1 && setImmediate(send));
}

async function close(): Promise<void> {
  closing = true;
  await opening.catch(() => undefined);
  await engine?.close();
  await (store ?? { close: () => Promise.all([...local.values()].map((part) => part.close())) }).close();
}

/** The functions a module exports (named exports, or those of its default export object), by name. */
async function importActivities(url: string): Promise<Record<string, ActivityFunction>> {
  const module = (await import(url)) as Record<string, unknown>;
  const exported = typeof module.default === 'object' && module.default !== null ? { ...(module.default as Record<string, unknown>), ...module } : module;
  return Object.fromEntries(Object.entries(exported).filter((entry): entry is [string, ActivityFunction] => typeof entry[1] === 'function'));
}
