/**
 * The remote worker of the order3-remote benchmark, in its own process: runs the no-op
 * activities for the server at argv[2] (task queue `default`, where order3's activities go)
 * until SIGTERM.
 */
import { Worker } from '../worker/index.js';
import { noopActivities, silentLogger } from './workloads/index.js';

const worker = await Worker.create({ connection: { address: process.argv[2] }, taskQueue: 'default', activities: noopActivities, logger: silentLogger });
process.once('SIGTERM', () => void worker.shutdown());
const running = worker.run();
process.stdout.write('polling\n');
await running;
