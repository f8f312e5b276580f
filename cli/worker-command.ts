/**
 * `aion worker`: runs a module's activities for a server, in this process (aion/worker):
 * polls a task queue of the namespace until SIGINT/SIGTERM, then lets the attempts in flight
 * finish (a second signal stops at once).
 *
 * @module
 */
import type { Command } from 'commander';
import { defaultLogger } from '../engine/index.js';
import { Worker } from '../worker/index.js';
import { loadActivities } from './activities-module.js';
import { CliError } from './client.js';
import { printLines } from './output.js';

interface WorkerCommandOptions {
  activities: string;
  taskQueue: string;
  maxConcurrent: string;
  identity?: string;
  shutdownGrace?: string;
}

export function addWorkerCommand(program: Command, connection: (command: Command) => { endpoint: string; namespace: string; token?: string }): void {
  program
    .command('worker')
    .description("run activities for the server: poll a task queue of the namespace and run its tasks with the module's functions")
    .requiredOption('--activities <module>', 'module whose exported functions are the activities')
    .requiredOption('--task-queue <queue>', 'the task queue to poll')
    .option('--max-concurrent <n>', 'attempts run at the same time, at most', '100')
    .option('--identity <name>', 'how the server names this worker (default <pid>@<host>)')
    .option('--shutdown-grace <duration>', 'after SIGTERM, how long attempts may run before they are cancelled (default: until they end)')
    .action(async (options: WorkerCommandOptions, command: Command) => {
      const maxConcurrent = Number(options.maxConcurrent);
      if (!Number.isInteger(maxConcurrent) || maxConcurrent < 1) throw new CliError(`--max-concurrent must be a whole number, at least 1, got ${options.maxConcurrent}`);
      const { endpoint, namespace, token } = connection(command);
      const activities = await loadActivities(options.activities);
      const worker = await Worker.create({
        connection: { address: endpoint, ...(token !== undefined ? { apiKey: token } : {}) },
        namespace,
        taskQueue: options.taskQueue,
        activities,
        maxConcurrentActivityTaskExecutions: maxConcurrent,
        ...(options.identity !== undefined ? { identity: options.identity } : {}),
        ...(options.shutdownGrace !== undefined ? { shutdownGraceTime: options.shutdownGrace } : {}),
        logger: defaultLogger(process.env.AION_LOG_LEVEL ?? 'info'),
      });
      let signals = 0;
      const stop = () => {
        if (++signals > 1) process.exit(130);
        printLines([`worker stopping: finishing ${worker.numInFlightActivities} activities in flight`]);
        void worker.shutdown();
      };
      process.on('SIGINT', stop);
      process.on('SIGTERM', stop);
      printLines([`worker polling task queue ${options.taskQueue} of namespace ${namespace} at ${endpoint} (activities: ${Object.keys(activities).join(', ')})`]);
      await worker.run().catch((error: unknown) => {
        throw new CliError((error as Error).message);
      });
      printLines(['worker stopped']);
    });
}
