import { loadGuestRuntime } from '../../engine/guest-runtime.js';
import { startWorker } from '../../engine/threads/start-worker.js';
import { DEFAULT_LIMITS, QuickJSWasm, Sandbox, SandboxTemplate, writeImage } from '../../sandbox/index.js';
import { figure, median, type Figure, type Scenario } from '../scenario.js';
import { order3Code } from '../workloads/index.js';

/** A sandbox thread spawned until it answers its first request: wall and process CPU time (the engine thread idles meanwhile). */
async function threadStart(runtimeSource: string): Promise<{ wallMs: number; cpuMs: number }> {
  const cpu = process.cpuUsage();
  const t = performance.now();
  const worker = startWorker(new URL('../../engine/sandboxes/sandbox-thread', import.meta.url), { workerData: { runtimeSource, watchdog: new SharedArrayBuffer(16) } });
  await new Promise<void>((resolve, reject) => {
    worker.once('message', () => resolve());
    worker.once('error', reject);
    worker.postMessage({ op: 'stats', id: 1 });
  });
  const wallMs = performance.now() - t;
  const { user, system } = process.cpuUsage(cpu);
  await worker.terminate();
  return { wallMs, cpuMs: (user + system) / 1000 };
}

/** A synthetic bundle of about 60 KB (a typical workflow bundle), exporting one workflow. */
function largeBundle(): string {
  let code = 'exports.big = async function big() { return 1; };\n';
  for (let i = 0; code.length < 60_000; i++) code += `function helper${i}(a) { const o = { k: ${i}, v: [a, a + 1, 's${i}'] }; return o.v.length + a; }\n`;
  return code;
}

export const sandboxCreation: Scenario = {
  name: 'sandbox-creation',
  description: 'new sandbox: fresh boot + bundle evaluation vs template fork vs reset pooled instance (small and ~60 KB bundles); a sandbox thread\'s start',
  async run({ quick }): Promise<Figure[]> {
    const wasm = await QuickJSWasm.load();
    const runtime = await loadGuestRuntime();
    const samples = quick ? 30 : 200;
    const figures: Figure[] = [];
    const starts: { wallMs: number; cpuMs: number }[] = [];
    for (let i = 0; i < 5; i++) starts.push(await threadStart(runtime));
    figures.push(
      figure('sandbox thread: start until it answers', median(starts.map((start) => start.wallMs)), 'ms'),
      figure('sandbox thread: start, CPU', median(starts.map((start) => start.cpuMs)), 'ms'),
    );
    for (const [label, code] of [['order3 bundle', await order3Code()], ['60 KB bundle', largeBundle()]] as const) {
      const evaluate = (sandbox: Sandbox) => {
        sandbox.begin(0);
        sandbox.evalScript(runtime, 'runtime.js');
        sandbox.evalScript(`__aion_loadBundle(function (module, exports, require) {\n${code}\n});`, 'bundle.js');
      };
      const boots: number[] = [];
      for (let i = 0; i < samples / 4; i++) {
        const t = performance.now();
        evaluate(await Sandbox.boot(wasm, DEFAULT_LIMITS));
        boots.push(performance.now() - t);
      }
      // What a deploy (or a restart's first wake) costs each sandbox thread: boot, evaluate, take the image.
      const templates: number[] = [];
      const createTemplate = async () => {
        const t = performance.now();
        const created = await SandboxTemplate.create(wasm, DEFAULT_LIMITS, evaluate);
        templates.push(performance.now() - t);
        return created;
      };
      let template = await createTemplate();
      for (let i = 1; i < 5; i++) template = await createTemplate();
      const forks: number[] = [];
      for (let i = 0; i < samples; i++) {
        const t = performance.now();
        writeImage((await Sandbox.boot(wasm, DEFAULT_LIMITS)).memory, template.image);
        forks.push(performance.now() - t);
      }
      const resets: number[] = [];
      let sandbox = await template.fork();
      for (let i = 0; i < samples; i++) {
        sandbox.begin(0);
        sandbox.evalScript('globalThis.scratch = Array.from({ length: 1000 }, (_, i) => ({ i }));', 'work.js');
        const t = performance.now();
        template.release(sandbox);
        sandbox = await template.fork();
        resets.push(performance.now() - t);
      }
      figures.push(
        figure(`${label}: boot + evaluate`, median(boots), 'ms'),
        figure(`${label}: fork (fresh instance + image)`, median(forks), 'ms'),
        figure(`${label}: reuse (reset pooled instance)`, median(resets), 'ms'),
        figure(`${label}: template (boot + evaluate + image)`, median(templates), 'ms'),
        figure(`${label}: template image`, template.image.data.length / 1024, 'KiB'),
      );
    }
    return figures;
  },
};
