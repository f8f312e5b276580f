import { figure, type Figure, type Scenario } from '../scenario.js';
import { inBatches, order3Engine } from '../workloads/index.js';

export const residentStarts: Scenario = {
  name: 'resident-starts',
  description: 'runs started that all stay resident while they wait (each needs a sandbox of its own): starts per second, 100 at a time',
  async run({ quick }): Promise<Figure[]> {
    const count = quick ? 1_000 : 10_000;
    const { engine } = await order3Engine({ maxResidentRuns: count + 10, maxResidentBytes: Number.MAX_SAFE_INTEGER });
    // Warm-up: the template is built and the threads' code is compiled before the clock starts.
    await inBatches(20, 5, (i) => engine.start('parked', { workflowId: `warm-${i}` }));
    const started = performance.now();
    // A start returns once the run's first activation is recorded (with `WorkflowStarted`).
    await inBatches(count, 100, (i) => engine.start('parked', { workflowId: `resident-${i}` }));
    const elapsedMs = performance.now() - started;
    await engine.close();
    return [figure('starts (each run resident, its first activation run)', (count / elapsedMs) * 1000, 'runs/s')];
  },
};
