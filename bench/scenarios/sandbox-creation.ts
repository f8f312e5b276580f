import { loadGuestRuntime } from '../../engine/bundler.js';
import { DEFAULT_LIMITS, QuickJSWasm, Sandbox, SandboxTemplate, writeImage } from '../../sandbox/index.js';
import { figure, median, type Figure, type Scenario } from '../scenario.js';
import { order3Code } from '../workloads/index.js';

/** A synthetic bundle of about 60 KB (a typical workflow bundle), exporting one workflow. */
function largeBundle(): string {
  let code = 'exports.big = async function big() { return 1; };\n';
  for (let i = 0; code.length < 60_000; i++) code += `function helper${i}(a) { const o = { k: ${i}, v: [a, a + 1, 's${i}'] }; return o.v.length + a; }\n`;
  return code;
}

export const sandboxCreation: Scenario = {
  name: 'sandbox-creation',
  description: 'new sandbox: fresh boot + bundle evaluation vs template fork vs reset pooled instance (small and ~60 KB bundles)',
  async run({ quick }): Promise<Figure[]> {
    const wasm = await QuickJSWasm.load();
    const runtime = await loadGuestRuntime();
    const samples = quick ? 30 : 200;
    const figures: Figure[] = [];
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
