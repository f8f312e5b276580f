import { Engine } from '../../engine/engine.js';
import { figure, medianMs, type Figure, type Scenario } from '../scenario.js';
import { noopActivities, order3Code, scratchDir, silentLogger } from '../workloads/index.js';

const LOOKS = 5;

export const inspectSeek: Scenario = {
  name: 'inspect-seek',
  description: 'handle.inspect on a ~10,000-event history: a replay from the start, then from the nearest checkpoint (every 1,000 events)',
  async run({ quick }): Promise<Figure[]> {
    const code = await order3Code();
    const steps = quick ? 1000 : 3334;
    const figures: Figure[] = [];
    const measure = async (checkpoints: { interval: number; closedRuns: boolean }) => {
      const engine = await Engine.open({ dataDir: scratchDir('aion-bench-inspect-'), activities: noopActivities, logger: silentLogger, checkpoints });
      try {
        await engine.deploy({ code });
        const handle = await engine.start('manySteps', { args: [steps] });
        await handle.result();
        const length = (await handle.history()).length;
        const first = await medianMs(1, () => handle.inspect({ at: length }));
        const nearEnd = await medianMs(LOOKS, () => handle.inspect({ at: length - 10 }));
        const middle = await medianMs(LOOKS, () => handle.inspect({ at: Math.floor(length / 2) + 7 }));
        return { length, first, nearEnd, middle };
      } finally {
        await engine.close();
      }
    };
    const none = await measure({ interval: 0, closedRuns: false });
    const kept = await measure({ interval: 1000, closedRuns: true });
    figures.push(
      figure(`seek near the end of ${none.length} events, no checkpoints p50`, none.nearEnd, 'ms'),
      figure('seek to the middle, no checkpoints p50', none.middle, 'ms'),
      figure('first look with checkpoints (replays, captures them)', kept.first, 'ms'),
      figure('seek near the end from a checkpoint p50', kept.nearEnd, 'ms'),
      figure('seek to the middle from a checkpoint p50', kept.middle, 'ms'),
      figure('seek near the end: no checkpoints / checkpoint', none.nearEnd / kept.nearEnd, '×'),
    );
    return figures;
  },
};
