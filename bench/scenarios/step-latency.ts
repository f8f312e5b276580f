import { figure, percentile, type Figure, type Scenario } from '../scenario.js';
import { order3Engine } from '../workloads/index.js';

export const stepLatency: Scenario = {
  name: 'step-latency',
  description: 'one activity round trip at low load (1 in flight, LevelDB synced): from ActivityScheduled to the next activation recorded',
  async run({ quick }): Promise<Figure[]> {
    const { engine } = await order3Engine();
    const count = quick ? 50 : 500;
    const latencies: number[] = [];
    for (let i = 0; i < count + 20; i++) {
      const handle = await engine.start('oneStep', { args: [i], workflowId: `step-${i}` });
      await handle.result();
      if (i < 20) continue; // warm-up
      const history = await handle.history();
      const scheduled = history.find((e) => e.type === 'ActivityScheduled')!;
      const next = history.find((e) => e.type === 'WorkflowTaskCompleted' && e.eventId > scheduled.eventId)!;
      latencies.push(next.time - scheduled.time);
    }
    await engine.close();
    return [figure('step p50', percentile(latencies, 50), 'ms'), figure('step p99', percentile(latencies, 99), 'ms')];
  },
};
