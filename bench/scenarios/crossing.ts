import { performance as nodePerformance } from 'node:perf_hooks';
import type { Activation } from '../../common/protocol.js';
import { loadGuestRuntime } from '../../engine/guest-runtime.js';
import { DEFAULT_COMMAND_LIMITS } from '../../engine/commands/validate.js';
import { RemoteSandbox } from '../../engine/sandboxes/remote-sandbox.js';
import { SandboxThreads } from '../../engine/sandboxes/sandbox-threads.js';
import { WorkflowTemplate } from '../../engine/workflow-sandbox.js';
import { DEFAULT_LIMITS, QuickJSWasm } from '../../sandbox/index.js';
import { figure, median, type Figure, type Scenario } from '../scenario.js';
import { order3Code } from '../workloads/index.js';

const start: Activation = {
  time: 0,
  replaying: false,
  historyLength: 1,
  continueAsNewSuggested: false,
  jobs: [{ kind: 'startWorkflow', args: [], info: { workflowId: 'w', runId: 'r', workflowType: 'listens', namespace: 'default', taskQueue: 'default', startTime: 0, randomSeed: 1, searchAttributes: {}, firstExecutionRunId: 'r' } }],
};
const ping = (i: number): Activation => ({ time: i, replaying: false, historyLength: 2 + i, continueAsNewSuggested: false, jobs: [{ kind: 'signal', name: 'ping', args: [i] }] });

/** Per-activation time of `activate` over `samples` activations, in batches (median of batches). */
async function perActivation(samples: number, activate: (i: number) => unknown): Promise<number> {
  const batch = 200;
  const times: number[] = [];
  for (let done = 0; done < samples; done += batch) {
    const t = performance.now();
    for (let i = done; i < done + batch; i++) await activate(i);
    times.push(((performance.now() - t) / batch) * 1000);
  }
  return median(times);
}

export const crossing: Scenario = {
  name: 'crossing',
  description: 'an activation that emits nothing, run in the engine thread vs in a sandbox thread: what crossing to the thread costs',
  async run({ quick }): Promise<Figure[]> {
    const samples = quick ? 2_000 : 20_000;
    const [wasm, runtime, code] = await Promise.all([QuickJSWasm.load(), loadGuestRuntime(), order3Code()]);

    const local = await (await WorkflowTemplate.create(wasm, DEFAULT_LIMITS, runtime, code)).newSandbox();
    local.activate(start);
    const inProcess = await perActivation(samples, (i) => local.activate(ping(i)));

    const threads = SandboxThreads.shared(1, runtime);
    const template = { key: 'crossing', version: 'crossing', limits: DEFAULT_LIMITS, poolSize: 4, poolBytes: Infinity };
    const remote = await RemoteSandbox.create(threads, 'crossing/1', template, async () => code, { name: 'default', weight: 1 });
    await remote.activate(start, DEFAULT_COMMAND_LIMITS);
    const before = nodePerformance.eventLoopUtilization();
    const throughThread = await perActivation(samples, (i) => remote.activate(ping(i), DEFAULT_COMMAND_LIMITS));
    const engineThreadBusy = nodePerformance.eventLoopUtilization(before).active;
    remote.release();

    return [
      figure('activation in the engine thread', inProcess, 'µs'),
      figure('activation in a sandbox thread', throughThread, 'µs'),
      figure('crossing cost per activation (latency)', throughThread - inProcess, 'µs'),
      figure('engine-thread time per activation in a sandbox thread', (engineThreadBusy / samples) * 1000, 'µs'),
    ];
  },
};
