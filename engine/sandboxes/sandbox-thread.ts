/**
 * A sandbox thread: the only place the engine runs guest code. It holds templates (evaluated
 * bundles) and the sandboxes of the runs assigned to it, and answers the engine thread's
 * requests one at a time. Around each call into guest code it publishes the deadline of the
 * unit of work it belongs to in memory shared with the engine thread, whose watchdog stops
 * the thread if a unit overruns by any path.
 *
 * @module
 */
import { parentPort, workerData } from 'node:worker_threads';
import { observeGuestCalls, QuickJSWasm, SandboxCrash } from '../../sandbox/index.js';
import { needsPayloadChecks } from '../commands/validate.js';
import { DeterminismViolationError } from '../errors.js';
import { compressImage, decodeSnapshot } from '../snapshots.js';
import { ComponentWorkflowTemplate } from '../component-workflow.js';
import { BundleLoadError, WorkflowTemplate, type GuestSandbox, type GuestTemplate } from '../workflow-sandbox.js';
import type { ThreadData, ThreadFailure, ThreadRequestWithId, ThreadResponse, ThreadResults } from './messages.js';
import { replaySandbox, restoreSandbox } from './restore.js';

const { runtimeSource, watchdog } = workerData as ThreadData;
const shared = new Float64Array(watchdog);
const wasm = await QuickJSWasm.load();

// The running guest call's deadline, in the clock both threads share (0: no guest code runs).
observeGuestCalls((deadline) => (shared[0] = deadline === 0 ? 0 : performance.timeOrigin + deadline));

const templates = new Map<string, Promise<GuestTemplate>>();
const sandboxes = new Map<string, GuestSandbox>();

type Handler<K extends keyof ThreadResults> = (request: Extract<ThreadRequestWithId, { op: K }>) => Promise<ThreadResults[K]> | ThreadResults[K];

const handlers: { [K in keyof ThreadResults]: Handler<K> } = {
  async load({ template, code }) {
    let loaded = templates.get(template.key);
    if (!loaded) {
      const creating: Promise<GuestTemplate> = typeof code === 'string' ? WorkflowTemplate.create(wasm, template.limits, runtimeSource, code) : ComponentWorkflowTemplate.create(code, template.limits);
      loaded = creating.then((created) => {
        created.setPoolSize(template.poolSize, template.poolBytes);
        return created;
      });
      templates.set(template.key, loaded);
      loaded.catch(() => templates.delete(template.key));
    }
    const { workflowTypes, build } = await loaded;
    return { workflowTypes, build };
  },
  unload({ key }) {
    templates.delete(key);
    return null;
  },
  async activate({ sandboxId, template, create, activation, payloadLimits }) {
    const sandbox = create ? await newSandbox(sandboxId, template.key) : sandboxOf(sandboxId);
    return guard(sandboxId, () => {
      const raw = sandbox.activate(activation);
      return { raw, checkPayloads: needsPayloadChecks(raw, payloadLimits), residentBytes: sandbox.residentBytes };
    });
  },
  validate({ sandboxId, updates, time }) {
    const sandbox = sandboxOf(sandboxId);
    return guard(sandboxId, () => ({
      results: updates.map(({ updateId, name, args }) => ({ updateId, ...sandbox.validateUpdate(updateId, name, args, time) })),
      residentBytes: sandbox.residentBytes,
    }));
  },
  async wake({ sandboxId, template, history, historyLength, snapshot, limits }) {
    sandboxes.get(sandboxId)?.dispose();
    sandboxes.delete(sandboxId);
    const restored = await restoreSandbox(await templateOf(template.key), history, historyLength, snapshot, limits);
    sandboxes.set(sandboxId, restored.sandbox);
    return { from: restored.from, snapshotEventId: restored.snapshotEventId, residentBytes: restored.sandbox.residentBytes, unusedSnapshot: restored.unusedSnapshot };
  },
  query({ sandboxId, name, args, time }) {
    const sandbox = sandboxOf(sandboxId);
    return guard(sandboxId, () => sandbox.query(name, args, time));
  },
  async queryReplayed({ template, history, limits, name, args, time }) {
    const sandbox = await replaySandbox(await templateOf(template.key), history, limits);
    try {
      return sandbox.query(name, args, time);
    } finally {
      sandbox.dispose();
    }
  },
  async inspect({ template, history, limits, time, query, checkpoints }) {
    // Loaded at the first inspection: the inspector brings the offline replay's modules, most of what a thread's start used to load.
    const { inspectSandbox } = await import('../inspector.js');
    return inspectSandbox(await templateOf(template.key), template.version, history, limits, time, query, checkpoints);
  },
  async replay({ template, history, limits, check }) {
    (await replaySandbox(await templateOf(template.key), history, limits, check)).dispose();
  },
  capture({ sandboxId }) {
    const sandbox = sandboxOf(sandboxId);
    return { ...compressImage(sandbox.capture()), build: sandbox.build };
  },
  release({ sandboxId }) {
    sandboxes.get(sandboxId)?.dispose();
    sandboxes.delete(sandboxId);
    return null;
  },
  async checkSnapshot({ template, snapshot, historyLength }) {
    const loaded = await templateOf(template.key);
    const decoded = decodeSnapshot(snapshot, { version: snapshot.version, build: loaded.build, historyLength, byteLength: loaded.memoryBytes });
    return 'unusable' in decoded ? decoded.unusable : null;
  },
  stats() {
    return { templates: templates.size, sandboxes: sandboxes.size };
  },
  releaseAll({ prefix }) {
    for (const [id, sandbox] of sandboxes) {
      if (!id.startsWith(prefix)) continue;
      sandbox.dispose();
      sandboxes.delete(id);
    }
    return null;
  },
};

async function templateOf(key: string): Promise<GuestTemplate> {
  const template = templates.get(key);
  if (!template) throw new LostError(`template ${key} is not loaded in this thread`);
  return template;
}

async function newSandbox(sandboxId: string, templateKey: string): Promise<GuestSandbox> {
  sandboxes.get(sandboxId)?.dispose();
  const sandbox = await (await templateOf(templateKey)).newSandbox();
  sandboxes.set(sandboxId, sandbox);
  return sandbox;
}

function sandboxOf(sandboxId: string): GuestSandbox {
  const sandbox = sandboxes.get(sandboxId);
  if (!sandbox) throw new LostError(`sandbox ${sandboxId} is not in this thread`);
  return sandbox;
}

/** Runs guest work on a sandbox; a sandbox that crashed is dropped. */
function guard<T>(sandboxId: string, work: () => T): T {
  try {
    return work();
  } catch (error) {
    if (error instanceof SandboxCrash || error instanceof DeterminismViolationError) {
      sandboxes.get(sandboxId)?.dispose();
      sandboxes.delete(sandboxId);
    }
    throw error;
  }
}

class LostError extends Error {}

function failureOf(error: unknown): ThreadFailure {
  if (error instanceof SandboxCrash) return { kind: 'crash', crashKind: error.kind, message: error.message, guestStack: error.guestStack };
  if (error instanceof DeterminismViolationError) return { kind: 'violation', ...error.divergences[0], divergences: error.divergences };
  if (error instanceof BundleLoadError) return { kind: 'bundle', message: error.message };
  if (error instanceof LostError) return { kind: 'lost', message: error.message };
  return { kind: 'error', message: error instanceof Error ? error.message : String(error) };
}

/** Buffers of memory images go back transferred, not copied. */
function transferables(value: unknown): ArrayBuffer[] {
  const image = value as Partial<ThreadResults['capture']> | null;
  return image?.data instanceof Uint8Array && image.pages instanceof Uint8Array ? [image.data.buffer as ArrayBuffer, image.pages.buffer as ArrayBuffer] : [];
}

/** Requests are answered one at a time, in order (the watchdog relies on it). */
let queue: Promise<void> = Promise.resolve();

parentPort!.on('message', (request: ThreadRequestWithId) => {
  queue = queue.then(async () => {
    shared[1] = request.id;
    const started = performance.now();
    let response: ThreadResponse;
    try {
      const value = await (handlers[request.op] as Handler<keyof ThreadResults>)(request as never);
      response = { id: request.id, ok: true, value, busyMs: performance.now() - started };
    } catch (error) {
      response = { id: request.id, ok: false, failure: failureOf(error), busyMs: performance.now() - started };
    }
    shared[0] = 0;
    parentPort!.postMessage(response, response.ok ? transferables(response.value) : []);
  });
});
