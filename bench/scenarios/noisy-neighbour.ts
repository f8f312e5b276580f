import { Engine } from '../../engine/engine.js';
import { figure, percentile, type Figure, type Scenario } from '../scenario.js';
import { noopActivities, order3Code, runMany, scratchDir, silentLogger } from '../workloads/index.js';

/** Keeps `inFlight` runs of `start`'s making going until `stop` aborts; counts the runs that ended. */
async function keepRunning(inFlight: number, stop: AbortSignal, start: (i: number) => Promise<unknown>): Promise<number> {
  let next = 0;
  let ended = 0;
  const lane = async () => {
    while (!stop.aborted) {
      await start(next++).catch(() => undefined); // a bomb fails its run: expected
      ended++;
    }
  };
  await Promise.all(Array.from({ length: inFlight }, lane));
  return ended;
}

/**
 * A quiet tenant's order3 latency alone, then beside a noisy tenant that runs CPU-heavy
 * workflows (50 in flight, each activation computing ~85 ms on this machine) and memory bombs (5 in flight,
 * each growing to the sandbox's memory cap) at full rate. Fair scheduling between namespaces
 * should keep the quiet tenant's p99 within 2× of its solo figure.
 */
export const noisyNeighbour: Scenario = {
  name: 'noisy-neighbour',
  description: "a quiet namespace's order3 (1,000 runs, 50 in flight) alone, then beside a namespace running CPU hogs and memory bombs at full rate",
  async run({ quick }): Promise<Figure[]> {
    const total = quick ? 200 : 1000;
    const engine = await Engine.open({ dataDir: scratchDir('aion-bench-noisy-'), activities: noopActivities, logger: silentLogger });
    const code = await order3Code();
    for (const namespace of ['quiet', 'noisy']) {
      await engine.namespaces.create(namespace);
      await engine.deploy({ code, namespace });
    }
    const quiet = (count: number) => runMany(engine, 'order3', count, 50, 'quiet');
    await quiet(50); // warm up
    const solo = await quiet(total);

    const stop = new AbortController();
    const start = async (type: string, args: unknown[], i: number) => (await engine.start(type, { namespace: 'noisy', workflowId: `${type}-${i}`, args })).result();
    const hogs = keepRunning(50, stop.signal, (i) => start('cpuHog', [5, 1_500_000], i));
    const bombs = keepRunning(5, stop.signal, (i) => start('memoryBomb', [], i));
    const loaded = await quiet(total);
    stop.abort();
    const [hogRuns, bombRuns] = await Promise.all([hogs, bombs]);
    await engine.close();

    const p99Solo = percentile(solo.latencies, 99);
    const p99Loaded = percentile(loaded.latencies, 99);
    return [
      figure('quiet p50 alone', percentile(solo.latencies, 50), 'ms'),
      figure('quiet p99 alone', p99Solo, 'ms'),
      figure('quiet p50 beside the noisy tenant', percentile(loaded.latencies, 50), 'ms'),
      figure('quiet p99 beside the noisy tenant', p99Loaded, 'ms'),
      figure('quiet p99 ratio (beside / alone)', p99Loaded / p99Solo, 'ratio'),
      figure('quiet throughput alone', (total / solo.elapsedMs) * 1000, 'runs/s'),
      figure('quiet throughput beside the noisy tenant', (total / loaded.elapsedMs) * 1000, 'runs/s'),
      figure('noisy runs ended meanwhile (hogs, bombs)', hogRuns + bombRuns, 'runs'),
    ];
  },
};
