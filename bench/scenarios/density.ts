import { Engine } from '../../engine/engine.js';
import { figure, type Figure, type Scenario } from '../scenario.js';
import { inBatches, noopActivities, order3Code, silentLogger } from '../workloads/index.js';

export const density: Scenario = {
  name: 'density',
  description: 'resident sandboxes per GiB of RSS: runs kept in memory while waiting (Temporal TS documents 250-750 cached workflows per GB)',
  async run({ quick }): Promise<Figure[]> {
    const count = quick ? 300 : 3_000;
    const engine = await Engine.open({ activities: noopActivities, logger: silentLogger, maxResidentRuns: count + 10, maxResidentBytes: Number.MAX_SAFE_INTEGER });
    await engine.deploy({ code: await order3Code() });
    await inBatches(20, 5, (i) => engine.start('parked', { workflowId: `warm-${i}` }));
    const gc = (globalThis as { gc?: () => void }).gc;
    gc?.();
    const before = process.memoryUsage().rss;
    await inBatches(count, 100, (i) => engine.start('parked', { workflowId: `resident-${i}` }));
    gc?.();
    const perSandbox = (process.memoryUsage().rss - before) / count;
    const resident = Number((await engine.metrics.registry.metrics()).match(/aion_resident_sandboxes (\d+)/)?.[1] ?? 0);
    await engine.close();
    return [
      figure('resident sandboxes', resident, 'count'),
      figure('RSS per resident sandbox', perSandbox / 1024, 'KiB'),
      figure('resident sandboxes per GiB of RSS', 1024 ** 3 / perSandbox, 'per GiB'),
    ];
  },
};
