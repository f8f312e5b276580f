import { figure, percentile, type Figure, type Scenario } from '../scenario.js';
import { availableParallelism } from 'node:os';
import { startThrowawayPostgres } from '../../tools/throwaway-postgres.js';
import { noopActivitiesModule, order3Engine, runMany } from '../workloads/index.js';

interface Variant {
  name: string;
  description: string;
  type: 'order3' | 'order3NoSleep';
  inFlight: number;
  sync: boolean;
  /** Partitions of the data folder (default: the engine's). */
  partitions?: number;
  /** Partition threads; their activities run in place (`activitiesModule`) unless `activitiesOnMain`. */
  threads?: number;
  activitiesOnMain?: boolean;
  /** On a throw-away PostgreSQL server (fsync on) instead of a LevelDB folder. */
  postgres?: boolean;
}

function order3Scenario({ name, description, type, inFlight, sync, partitions, threads, activitiesOnMain, postgres }: Variant): Scenario {
  return {
    name,
    description,
    async run({ quick }): Promise<Figure[]> {
      const total = quick ? 300 : 2000;
      const threaded = threads === undefined ? {} : { threads, ...(activitiesOnMain ? {} : { activities: {}, activitiesModule: noopActivitiesModule() }) };
      const server = postgres ? await startThrowawayPostgres() : undefined;
      const store = server ? { postgres: server.url, dataDir: undefined } : {};
      const { engine } = await order3Engine({ sync, ...(partitions !== undefined ? { partitions } : {}), ...threaded, ...store });
      // Warm up: the template, JIT and the store's files.
      await runMany(engine, type, 50, 10);
      const cpu = process.cpuUsage();
      const serverCpuMs = server?.cpuMs() ?? 0;
      const { latencies, elapsedMs } = await runMany(engine, type, total, inFlight);
      const { user, system } = process.cpuUsage(cpu);
      const serverFigures = server ? [figure('PostgreSQL server CPU per run', (server.cpuMs() - serverCpuMs) / total, 'ms')] : [];
      await engine.close();
      await server?.stop();
      return [
        figure('throughput', (total / elapsedMs) * 1000, 'runs/s'),
        figure('latency p50', percentile(latencies, 50), 'ms'),
        figure('latency p99', percentile(latencies, 99), 'ms'),
        figure('host CPU per run', (user + system) / 1000 / total, 'ms'),
        ...serverFigures,
        figure('peak RSS', process.resourceUsage().maxRSS / 1024, 'MiB'),
      ];
    },
  };
}

const sync = 'LevelDB, synced writes';
export const order3Scenarios: Scenario[] = [
  order3Scenario({ name: 'order3', description: `3 activities + 10 ms sleep, 2,000 runs, 50 in flight, ${sync}`, type: 'order3', inFlight: 50, sync: true }),
  order3Scenario({ name: 'order3-nosleep', description: `3 activities, no sleep, 50 in flight, ${sync}`, type: 'order3NoSleep', inFlight: 50, sync: true }),
  order3Scenario({ name: 'order3-serial', description: `order3 with 1 in flight, ${sync}`, type: 'order3', inFlight: 1, sync: true }),
  order3Scenario({ name: 'order3-500', description: `order3 with 500 in flight, ${sync}`, type: 'order3', inFlight: 500, sync: true }),
  order3Scenario({ name: 'order3-1-partition', description: `order3 on a data folder of 1 partition (the default is 16), ${sync}`, type: 'order3', inFlight: 50, sync: true, partitions: 1 }),
  order3Scenario({ name: 'order3-unsynced', description: 'order3, 50 in flight, LevelDB without fsync (what group commit buys)', type: 'order3', inFlight: 50, sync: false }),
  // The scaling table: partition threads (activities imported by each thread), 1, 2 and, where the machine has the cores, 4.
  ...[1, 2, ...(availableParallelism() >= 4 ? [4] : [])].map((threads) =>
    order3Scenario({ name: `order3-threads-${threads}`, description: `order3 with ${threads} partition thread${threads === 1 ? '' : 's'}, ${sync}`, type: 'order3', inFlight: 50, sync: true, threads }),
  ),
  order3Scenario({ name: 'order3-postgres', description: 'order3 on PostgreSQL (a throw-away local server, fsync on), 50 in flight', type: 'order3', inFlight: 50, sync: true, postgres: true }),
  order3Scenario({
    name: 'order3-threads-2-main-activities',
    description: `order3 with 2 partition threads, its activities run by the main thread, ${sync}`,
    type: 'order3',
    inFlight: 50,
    sync: true,
    threads: 2,
    activitiesOnMain: true,
  }),
];
