import { Engine } from '../../engine/engine.js';
import type { HistoryEvent } from '../../engine/history/events.js';
import { openLevelDbStore } from '../../store/open.js';
import { figure, percentile, type Figure, type Scenario } from '../scenario.js';
import { directoryBytes, inBatches, noopActivities, order3Code, scratchDir, silentLogger } from '../workloads/index.js';

/** Resident budget: far below what 100,000 sandboxes would need, so nearly all are parked. */
const RESIDENT_BYTES = 64 * 1024 * 1024;
/** Activity round trips each run makes before parking: a history of 2 + 3 × 5 events. */
const STEPS = 5;

/** Wakes a parked run by a signal; returns the signal's latency in ms. */
async function wake(engine: Engine, id: string): Promise<number> {
  const t = performance.now();
  await engine.getHandle(id).signal('wake');
  return performance.now() - t;
}

interface Variant {
  name: string;
  description: string;
  /** Runs started in a full run (quick: 1,000). */
  total: number;
  /** Every park writes a snapshot (`snapshots.minEvents` 0), for the snapshot-against-replay comparison. */
  snapshotEveryPark: boolean;
}

function parkedScenario({ name, description, total: fullTotal, snapshotEveryPark }: Variant): Scenario {
  return {
    name,
    description,
    async run({ quick }): Promise<Figure[]> {
      const total = quick ? 1_000 : fullTotal;
      const sample = quick ? 100 : 1_000;
      const dataDir = scratchDir('aion-bench-parked-');
      const store = await openLevelDbStore<HistoryEvent>(dataDir);
      const snapshots = snapshotEveryPark ? { snapshots: { minEvents: 0 } } : {};
      const engine = await Engine.open({ store, activities: noopActivities, logger: silentLogger, maxResidentBytes: RESIDENT_BYTES, ...snapshots });
      await engine.deploy({ code: await order3Code() });
      const started = performance.now();
      await inBatches(total, 50, (i) => engine.start('parked', { args: [STEPS], workflowId: `parked-${i}` }));
      const startSeconds = (performance.now() - started) / 1000;
      // Let the last activities and parks finish, then measure memory as it stays.
      let evictions = -1;
      for (;;) {
        const now = Number((await engine.metrics.registry.metrics()).match(/aion_evictions_total (\d+)/)?.[1] ?? 0);
        if (now === evictions) break;
        evictions = now;
        await new Promise((resolve) => setTimeout(resolve, 500));
      }
      (globalThis as { gc?: () => void }).gc?.();
      const rss = process.memoryUsage().rss;
      const storeBytes = directoryBytes(dataDir);
      const figures = [
        figure('runs started', total / startSeconds, 'runs/s'),
        figure('engine RSS with all parked', rss / 1024 ** 2, 'MiB'),
        figure('store size', storeBytes / 1024 ** 2, 'MiB'),
        figure('store per parked run', storeBytes / total / 1024, 'KiB'),
      ];
      if (!snapshotEveryPark) {
        // These histories are shorter than the default snapshots.minEvents: every wake replays.
        const woken: number[] = [];
        for (let i = 0; i < 2 * sample; i++) woken.push(await wake(engine, `parked-${i}`));
        await engine.close();
        await store.close();
        return [...figures, figure('wake by signal p50', percentile(woken, 50), 'ms'), figure('wake by signal p99', percentile(woken, 99), 'ms')];
      }
      // The earliest runs were parked first: delete the snapshots of half of a sample of them
      // (so those replay), then wake the two halves alternately, so both see the same conditions.
      const snapshotIds = Array.from({ length: sample }, (_, i) => `parked-${2 * i}`);
      const replayIds = Array.from({ length: sample }, (_, i) => `parked-${2 * i + 1}`);
      for (const id of replayIds) {
        const { runId } = await engine.getHandle(id).describe();
        await store.write({ snapshots: { delete: [{ namespace: 'default', runId }] } });
      }
      const fromSnapshot: number[] = [];
      const fromReplay: number[] = [];
      for (let i = 0; i < sample; i++) {
        fromSnapshot.push(await wake(engine, snapshotIds[i]!));
        fromReplay.push(await wake(engine, replayIds[i]!));
      }
      await engine.close();
      await store.close();
      return [
        ...figures,
        figure('wake by signal, from snapshot p50', percentile(fromSnapshot, 50), 'ms'),
        figure('wake by signal, from snapshot p99', percentile(fromSnapshot, 99), 'ms'),
        figure('wake by signal, by replay p50', percentile(fromReplay, 50), 'ms'),
        figure('wake by signal, by replay p99', percentile(fromReplay, 99), 'ms'),
      ];
    },
  };
}

export const parkedScenarios: Scenario[] = [
  parkedScenario({
    name: 'parked-runs',
    description: '100,000 runs, each after 5 activities, parked on a long timer (LevelDB, synced, 64 MiB resident budget; histories too short for a snapshot): RSS, store size, wake by signal',
    total: 100_000,
    snapshotEveryPark: false,
  }),
  parkedScenario({
    name: 'parked-runs-snapshots',
    description: 'the same with 20,000 runs, each park writing a snapshot (snapshots.minEvents 0): wake by signal from a snapshot vs by replay',
    total: 20_000,
    snapshotEveryPark: true,
  }),
];
