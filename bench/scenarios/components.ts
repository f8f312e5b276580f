/**
 * Workflows as WebAssembly components next to the same workflows in QuickJS: the order3
 * workload made into a component with componentize-js (SpiderMonkey inside), its cold start,
 * its forks and snapshots, its throughput and CPU per run, and what stopping a spinning
 * component costs (its sandbox thread is terminated, where QuickJS is interrupted).
 */
import { ComponentWorkflowTemplate } from '../../engine/component-workflow.js';
import type { Activation } from '../../common/protocol.js';
import { CompiledComponent, ComponentTemplate, DEFAULT_LIMITS, transpileComponent } from '../../sandbox/index.js';
import { componentizeWorkflow } from '../../tools/componentize-workflow.js';
import { figure, median, medianMs, percentile, type Figure, type Scenario } from '../scenario.js';
import { order3Code, order3Engine, runMany } from '../workloads/index.js';

const start: Activation = {
  time: 1_700_000_000_000,
  replaying: false,
  historyLength: 0,
  continueAsNewSuggested: false,
  jobs: [
    {
      kind: 'startWorkflow',
      args: [1],
      info: { workflowId: 'w', runId: 'r', workflowType: 'order3', namespace: 'default', taskQueue: 'default', startTime: 0, randomSeed: 1, searchAttributes: {}, firstExecutionRunId: 'r' },
    },
  ],
};

export const components: Scenario = {
  name: 'components',
  description: 'order3 as a componentize-js component vs the QuickJS bundle: cold start, fork, snapshot, throughput, CPU per run, stopping a spinning run',
  async run({ quick }): Promise<Figure[]> {
    const code = await order3Code();
    let started = performance.now();
    const component = await componentizeWorkflow(code);
    const figures = [figure('componentize-js build (once, at the team\'s build)', performance.now() - started, 'ms'), figure('component size', component.byteLength / 2 ** 20, 'MiB')];

    started = performance.now();
    const transpiled = await transpileComponent(component);
    figures.push(figure('transpile with jco (once per version and thread)', performance.now() - started, 'ms'));
    const coldStart = await medianMs(3, async () => {
      const compiled = await CompiledComponent.compile(transpiled, DEFAULT_LIMITS.memoryBytes);
      ComponentTemplate.create(compiled, DEFAULT_LIMITS, 1000, (sandbox) => sandbox.call('workflowTypes'));
    });
    figures.push(figure('cold start, transpile cached (compile + instantiate + workflow types)', coldStart, 'ms'));

    const template = await ComponentWorkflowTemplate.create(component, DEFAULT_LIMITS);
    const samples = quick ? 10 : 50;
    figures.push(figure('fork from the template (new instance)', await medianMs(samples, () => template.newSandbox()), 'ms'));
    template.setPoolSize(1, Infinity);
    const reuses: number[] = [];
    for (let i = 0; i < samples; i++) {
      const used = await template.newSandbox();
      used.activate(start);
      const t = performance.now();
      used.dispose();
      await template.newSandbox();
      reuses.push(performance.now() - t);
    }
    figures.push(figure('reuse (reset a pooled instance after a run)', median(reuses), 'ms'));
    const sandbox = await template.newSandbox();
    sandbox.activate(start);
    const captures: number[] = [];
    let image = sandbox.capture();
    for (let i = 0; i < samples; i++) {
      const t = performance.now();
      image = sandbox.capture();
      captures.push(performance.now() - t);
    }
    figures.push(
      figure('snapshot: capture (delta against the template)', median(captures), 'ms'),
      figure('snapshot: delta size before compression', image.data.byteLength / 1024, 'KiB'),
      figure('snapshot: restore', await medianMs(samples, () => template.restore(image)), 'ms'),
      figure('instance memory', sandbox.residentBytes / 2 ** 20, 'MiB'),
    );

    const total = quick ? 100 : 500;
    for (const [label, source] of [['QuickJS bundle', { code }], ['component', { component }]] as const) {
      const { engine } = await order3Engine();
      await engine.deploy(source);
      await runMany(engine, 'order3', 20, 10);
      const cpu = process.cpuUsage();
      const { latencies, elapsedMs } = await runMany(engine, 'order3', total, 50);
      const { user, system } = process.cpuUsage(cpu);
      figures.push(
        figure(`${label}: order3 throughput`, (total / elapsedMs) * 1000, 'runs/s'),
        figure(`${label}: order3 latency p99`, percentile(latencies, 99), 'ms'),
        figure(`${label}: host CPU per run`, (user + system) / 1000 / total, 'ms'),
      );
      await engine.close();
    }

    // A run that spins: QuickJS interrupts it at its budget; a component's thread is terminated by the watchdog (budget + grace) and replaced.
    for (const [label, source] of [['QuickJS bundle', { code }], ['component', { component }]] as const) {
      const { engine } = await order3Engine({ limits: { cpuMsPerActivation: 100 }, supervision: { initialBackoffMs: 1, maxRestarts: 0 } });
      await engine.deploy(source);
      const t = performance.now();
      await (await engine.start('cpuHog', { args: [1, 1e12] })).result().catch(() => undefined);
      figures.push(figure(`${label}: a spinning run failed after (100 ms budget)`, performance.now() - t, 'ms'));
      await engine.close();
    }
    return figures;
  },
};
