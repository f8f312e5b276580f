import { once } from 'node:events';
import { MessageChannel, type Worker } from 'node:worker_threads';
import { afterAll } from 'vitest';
import { RemoteStore } from '../../../engine/threads/remote-store.js';
import { startWorker } from '../../../engine/threads/start-worker.js';
import { compileQuery } from '../../../engine/visibility.js';
import type { EventStore } from '../../../store/index.js';
import { eventStoreConformance } from '../../store/event-store.case.js';

const workers: Worker[] = [];
afterAll(() => Promise.all(workers.map((worker) => worker.terminate())));

/** A store in a worker thread of its own, reached through a `RemoteStore`. */
async function storeInThread(partitions: number): Promise<EventStore> {
  const { port1, port2 } = new MessageChannel();
  const worker = startWorker(new URL('../../fixtures/store-thread', import.meta.url), { workerData: { port: port2, partitions }, transferList: [port2] });
  workers.push(worker);
  await once(worker, 'message');
  return new RemoteStore(port1);
}

// Filters cross threads as the visibility query they were compiled from.
const typeFilter = (workflowType: string) => compileQuery({ workflowType }).filter;
eventStoreConformance({ name: 'in another thread (RemoteStore), 1 partition', open: () => storeInThread(1), typeFilter });
eventStoreConformance({ name: 'in another thread (RemoteStore), 16 partitions', open: () => storeInThread(16), typeFilter });
