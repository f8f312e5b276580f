import { join } from 'node:path';
import { Engine } from '../../engine/engine.js';
import type { Logger } from '../../engine/logger.js';
import { partitionOfWorkflow } from '../../store/partitions.js';
import { figure, percentile, type Figure, type Scenario } from '../scenario.js';
import { crashingActivitiesModule, inBatches, order3Code, scratchDir } from '../workloads/index.js';

const THREADS = 2;
const PARTITIONS = 16;
const threadOf = (workflowId: string): number => partitionOfWorkflow('default', workflowId, PARTITIONS) % THREADS;

/** A logger that is silent but resolves `waitFor(message)` when a line with that message comes. */
function watchingLogger(): { logger: Logger; waitFor(match: RegExp): Promise<number> } {
  const waiters: { match: RegExp; resolve: (at: number) => void }[] = [];
  const line = (_attributes: object, message: string) => {
    for (const waiter of waiters.filter(({ match }) => match.test(message))) {
      waiters.splice(waiters.indexOf(waiter), 1);
      waiter.resolve(performance.now());
    }
  };
  return { logger: { debug: line, info: line, warn: line, error: line }, waitFor: (match) => new Promise((resolve) => waiters.push({ match, resolve })) };
}

export const threadRestart: Scenario = {
  name: 'thread-restart',
  description: 'two partition threads with 2,000 runs waiting on a signal; an activity ends thread 1: from its death until its partitions are recovered, and signals to its runs after',
  async run({ quick }): Promise<Figure[]> {
    const waiting = quick ? 200 : 2_000;
    const dataDir = scratchDir('aion-bench-restart-');
    process.env.AION_BENCH_CRASH_MARKER = join(dataDir, 'crashed');
    const { logger, waitFor } = watchingLogger();
    const engine = await Engine.open({ dataDir: join(dataDir, 'data'), threads: THREADS, partitions: PARTITIONS, activitiesModule: crashingActivitiesModule(), logger });
    await engine.deploy({ code: await order3Code() });
    const ids = Array.from({ length: waiting }, (_, i) => `waiting-${i}`);
    await inBatches(waiting, 50, (i) => engine.start('parked', { workflowId: ids[i] }));

    const died = waitFor(/^a partition thread failed$/);
    const restarted = waitFor(/^partition thread 1 restarted/);
    let crashing = 'crash-0';
    for (let n = 1; threadOf(crashing) !== 1; n++) crashing = `crash-${n}`;
    const crashed = await engine.start('crashesItsThread', { workflowId: crashing });
    const diedAt = await died;
    const restartedAt = await restarted;

    // Every run of the restarted thread is signalled, 50 at a time: each signal is recorded and the run completes.
    const onThread1 = ids.filter((id) => threadOf(id) === 1);
    const latencies: number[] = [];
    const signalled = performance.now();
    await inBatches(onThread1.length, 50, async (i) => {
      const started = performance.now();
      const handle = engine.getHandle(onThread1[i]);
      await handle.signal('wake');
      latencies.push(performance.now() - started);
      await handle.result();
    });
    const allDoneMs = performance.now() - signalled;
    await crashed.result();
    await engine.close();
    return [
      figure('from the thread dying to its partitions recovered and served', restartedAt - diedAt, 'ms'),
      figure('signal to a run of the restarted thread p50', percentile(latencies, 50), 'ms'),
      figure('signal to a run of the restarted thread p99', percentile(latencies, 99), 'ms'),
      figure('its waiting runs (about half) signalled and completed, 50 at a time', allDoneMs, 'ms'),
    ];
  },
};
