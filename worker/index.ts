/**
 * `aion/worker`: remote activity workers (Temporal's `Worker`, for activities). See worker.ts.
 *
 * @module
 */
export { Worker, type WorkerOptions, type WorkerState } from './worker.js';
export type { WorkerConnectionOptions } from './worker-transport.js';
