import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { serveEngine } from '../../server/serve.js';
import { figure, percentile, type Figure, type Scenario } from '../scenario.js';
import { order3Engine, runMany } from '../workloads/index.js';

/** Starts the worker process against `address`; resolves once it polls. */
async function startWorker(address: string): Promise<() => Promise<void>> {
  const script = fileURLToPath(new URL(`../remote-worker-child.${import.meta.url.endsWith('.ts') ? 'ts' : 'js'}`, import.meta.url));
  const child = spawn(process.execPath, [...(import.meta.url.endsWith('.ts') ? ['--import', 'tsx'] : []), script, address], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((resolve, reject) => {
    child.stdout.on('data', (chunk: Buffer) => chunk.toString().includes('polling') && resolve());
    child.once('exit', (code) => reject(new Error(`the worker exited with ${code} before polling`)));
  });
  return async () => {
    child.kill('SIGTERM');
    await new Promise((resolve) => child.once('exit', resolve));
  };
}

/**
 * order3 with its activities in process, then (same process, same machine state) with the
 * same no-op activities on a remote worker in another process, over the HTTP API: the cost of
 * the worker transport, as a ratio measured in one run.
 */
export const order3Remote: Scenario = {
  name: 'order3-remote',
  description: 'order3 (2,000 runs, 50 in flight, synced) with in-process activities, then with a remote worker process over HTTP long polls',
  async run({ quick }): Promise<Figure[]> {
    const total = quick ? 300 : 2000;
    const measure = async (remote: boolean) => {
      const { engine } = await order3Engine({ sync: true, ...(remote ? { activities: {} } : {}) });
      const server = remote ? await serveEngine(engine, { port: 0 }) : undefined;
      const stopWorker = server ? await startWorker(server.url) : undefined;
      await runMany(engine, 'order3', 50, 10); // warm up
      const cpu = process.cpuUsage();
      const { latencies, elapsedMs } = await runMany(engine, 'order3', total, 50);
      const { user, system } = process.cpuUsage(cpu);
      await stopWorker?.();
      await server?.close();
      await engine.close();
      return { throughput: (total / elapsedMs) * 1000, p50: percentile(latencies, 50), p99: percentile(latencies, 99), cpuPerRun: (user + system) / 1000 / total };
    };
    const local = await measure(false);
    const remote = await measure(true);
    return [
      figure('in-process throughput', local.throughput, 'runs/s'),
      figure('remote throughput', remote.throughput, 'runs/s'),
      figure('remote / in-process throughput', remote.throughput / local.throughput, 'ratio'),
      figure('in-process latency p50', local.p50, 'ms'),
      figure('remote latency p50', remote.p50, 'ms'),
      figure('in-process latency p99', local.p99, 'ms'),
      figure('remote latency p99', remote.p99, 'ms'),
      figure('server CPU per run, in-process', local.cpuPerRun, 'ms'),
      figure('server CPU per run, remote', remote.cpuPerRun, 'ms'),
    ];
  },
};
