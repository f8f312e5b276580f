/**
 * Snapshots at the sandbox level: a sandbox captured between activations and restored into
 * another instance is byte-identical, and continues with the same commands and query answers;
 * a template, and so the build snapshots are checked against, does not depend on the host.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { loadGuestRuntime } from '../../engine/guest-runtime.js';
import { WorkflowTemplate, type WorkflowSandbox } from '../../engine/workflow-sandbox.js';
import type { Job, StartInfo } from '../../common/protocol.js';
import { DEFAULT_LIMITS, QuickJSWasm, SandboxTemplate, type MemoryImage } from '../../sandbox/index.js';
import { fixtureBundle } from '../helpers.js';

let template: WorkflowTemplate;
beforeAll(async () => {
  template = await WorkflowTemplate.create(await QuickJSWasm.load(), DEFAULT_LIMITS, await loadGuestRuntime(), await fixtureBundle());
});

const info = (workflowType: string): StartInfo => ({
  workflowId: 'w', runId: 'r', workflowType, namespace: 'default', taskQueue: 'default', startTime: 1000, randomSeed: 7, searchAttributes: {}, firstExecutionRunId: 'r',
});
let clock = 1000;
const activate = (sandbox: WorkflowSandbox, ...jobs: Job[]) =>
  sandbox.activate({ time: (clock += 10), replaying: false, historyLength: 1, continueAsNewSuggested: false, jobs });

function expectSameImage(a: MemoryImage, b: MemoryImage): void {
  expect(Array.from(b.pages)).toEqual(Array.from(a.pages));
  expect(Buffer.compare(Buffer.from(a.data), Buffer.from(b.data))).toBe(0);
}

/** Captures `original`, restores the capture, and checks both continue identically with `next`. */
async function expectRestoreContinues(original: WorkflowSandbox, next: Job[][], queries: string[] = []): Promise<void> {
  const image = original.capture();
  const restored = await template.restore(image);
  expectSameImage(image, restored.capture());
  for (const query of queries) expect(restored.query(query, [], clock)).toEqual(original.query(query, [], clock));
  const at = clock;
  for (const jobs of next) {
    clock = at;
    const fromOriginal = activate(original, ...jobs);
    clock = at;
    const fromRestored = activate(restored, ...jobs);
    expect(fromRestored).toBe(fromOriginal);
  }
  expectSameImage(original.capture(), restored.capture());
  original.dispose();
  restored.dispose();
}

describe('sandbox snapshots', () => {
  it('restores mid-way through activities and timers and continues identically', async () => {
    const sandbox = await template.newSandbox();
    activate(sandbox, { kind: 'startWorkflow', args: ['book', 2], info: info('order') });
    activate(sandbox, { kind: 'resolveActivity', seq: 1, result: 'reserved:book' });
    await expectRestoreContinues(sandbox, [
      [{ kind: 'resolveActivity', seq: 2, result: 200 }],
      [{ kind: 'fireTimer', seq: 1 }],
      [{ kind: 'resolveActivity', seq: 3, result: 'shipped:book' }],
    ]);
  });

  it('restores mid-way through signals, queries and updates and continues identically', async () => {
    const sandbox = await template.newSandbox();
    activate(sandbox, { kind: 'startWorkflow', args: [], info: info('approval') });
    activate(sandbox, { kind: 'signal', name: 'approve', args: ['ann'] });
    await expectRestoreContinues(
      sandbox,
      [[{ kind: 'update', updateId: 'u1', name: 'setLimit', args: [150] }]],
      ['status'],
    );
  });

  it('is small: only the pages a run changed, relative to its template', async () => {
    const sandbox = await template.newSandbox();
    activate(sandbox, { kind: 'startWorkflow', args: [], info: info('approval') });
    const image = sandbox.capture();
    expect(image.pages.length).toBeLessThan(200);
    expect(image.data.length).toBe(image.pages.length * 4096);
    sandbox.dispose();
  });
});

describe('a template does not depend on the host process', () => {
  /** A template built while the host's script is `script` (what the glue reads for the guest's environment). */
  async function templateRunFrom(script: string): Promise<SandboxTemplate> {
    const host = process.argv[1];
    process.argv[1] = script;
    try {
      return await SandboxTemplate.create(await QuickJSWasm.load(), DEFAULT_LIMITS, (sandbox) => sandbox.evalScript('globalThis.ready = true', 'setup.js'));
    } finally {
      process.argv[1] = host;
    }
  }

  it('has the same build, and no trace of the host script, whatever folder the engine runs from', async () => {
    const a = await templateRunFrom('/srv/release-1/dist/engine/sandboxes/sandbox-thread.js');
    const b = await templateRunFrom('/opt/another-folder/aion/dist/engine/sandboxes/sandbox-thread.js');
    // Snapshots taken by one deploy are usable by the same release installed elsewhere.
    expect(b.build).toBe(a.build);
    for (const template of [a, b]) {
      const memory = Buffer.from(template.image.data);
      expect(memory.includes('sandbox-thread.js')).toBe(false);
      expect(memory.includes('HOME=')).toBe(false);
    }
  });
});

describe('a template image', () => {
  it('holds every page its setup wrote: a fresh instance with the image written over it is byte-identical to the instance the setup ran in', async () => {
    const setup = 'globalThis.table = Array.from({ length: 20000 }, (_, i) => ({ i, text: "row " + i })); globalThis.bytes = new Uint8Array(3 << 20).fill(7);';
    let afterSetup = Buffer.alloc(0);
    const template = await SandboxTemplate.create(await QuickJSWasm.load(), DEFAULT_LIMITS, (sandbox) => {
      sandbox.evalScript(setup, 'setup.js');
      afterSetup = Buffer.from(new Uint8Array(sandbox.memory.buffer)); // a copy
    });
    template.setPoolSize(0); // the next fork is a new boot with the image written over it
    const fresh = await template.fork();
    expect(Buffer.compare(Buffer.from(fresh.memory.buffer), afterSetup)).toBe(0);
    fresh.dispose();
  });
});
