/**
 * Workflows deployed as WebAssembly components (wit/workflow.wit), driven through the same
 * protocol as QuickJS bundles: an activation in (`activate`, then `advance` until it returns
 * the result), commands out, validated by the engine like any guest's. A component version is
 * transpiled once per thread (jco, cached by content hash) and instantiated per run from a
 * template; its state images go through the same snapshot path as QuickJS sandboxes'.
 *
 * @module
 */
import { createHash } from 'node:crypto';
import { ADVANCE_AGAIN, type Activation, type ActivationResult, type QueryResult, type ValidationResult } from '../common/protocol.js';
import { ComponentError, ComponentTemplate, CompiledComponent, CoreModuleError, SandboxCrash, transpileComponent, type ComponentSandbox, type MemoryImage, type SandboxLimits, type TranspiledComponent } from '../sandbox/index.js';
import { PromiseCache } from './promise-cache.js';
import { BundleLoadError, isolatedResult, type GuestSandbox, type GuestTemplate } from './workflow-sandbox.js';

/** Transpiled components a thread keeps, by content hash (each template of a version under other limits reuses one). */
const transpiled = new PromiseCache<TranspiledComponent>(8);
const transpiledOnce = (bytes: Uint8Array): Promise<TranspiledComponent> => transpiled.get(createHash('sha256').update(bytes).digest('hex'), () => transpileComponent(bytes));

export class ComponentWorkflowSandbox implements GuestSandbox {
  private released = false;

  constructor(
    private sandbox: ComponentSandbox,
    private readonly template: ComponentTemplate,
  ) {}

  get unusable(): boolean {
    return this.released || this.sandbox.unusable;
  }

  /** Runs one activation; the run's seed (from its start) seeds the random stream, and the log lines it wrote join the result. */
  activate(activation: Activation): string {
    this.assertHeld();
    for (const job of activation.jobs) if (job.kind === 'startWorkflow') this.sandbox.seedRandom(job.info.randomSeed);
    this.sandbox.begin(activation.time);
    this.sandbox.call('activate', JSON.stringify(activation));
    let raw: string;
    do raw = this.sandbox.call('advance');
    while (raw === ADVANCE_AGAIN);
    const logs = this.sandbox.takeLogs();
    if (logs.length === 0 || (activation.replaying && !activation.logWhileReplaying)) return raw;
    return withLogs(raw, logs);
  }

  query(name: string, args: unknown[], time: number): QueryResult {
    return this.isolatedCall('query', { name, args }, time) as QueryResult;
  }

  validateUpdate(updateId: string, name: string, args: unknown[], time: number): ValidationResult {
    return this.isolatedCall('validateUpdate', { updateId, name, args }, time) as ValidationResult;
  }

  /**
   * Runs a query or a validator, whatever it changes undone. A memory it grew cannot shrink, and
   * the guest may read its size: the run then goes on in a new instance of its state as it was.
   */
  private isolatedCall(entry: 'query' | 'validateUpdate', request: object, time: number): { ok: boolean } {
    this.assertHeld();
    const raw = this.sandbox.isolated(() => {
      this.sandbox.begin(time);
      return this.sandbox.call(entry, JSON.stringify(request));
    });
    if (this.sandbox.grownFrom) this.sandbox = this.template.rebuild(this.sandbox);
    return isolatedResult(entry, raw);
  }

  /** Gives the sandbox back to its template (which reuses it unless it crashed); this wrapper no longer reaches it. */
  dispose(): void {
    if (this.released) return;
    this.released = true;
    this.template.release(this.sandbox);
  }

  capture(): MemoryImage {
    this.assertHeld();
    return this.template.capture(this.sandbox);
  }

  private assertHeld(): void {
    if (this.released) throw new Error('a component sandbox used after it was released');
  }

  get build(): string {
    return this.template.build;
  }

  get residentBytes(): number {
    return this.sandbox.residentBytes;
  }
}

/** A component version made ready in a thread: transpiled, compiled, instantiated once, its workflow types asked. */
export class ComponentWorkflowTemplate implements GuestTemplate {
  private constructor(
    private readonly template: ComponentTemplate,
    readonly workflowTypes: string[],
  ) {}

  /** A component that breaks the contract, or whose instantiation or `workflow-types` fails, is a `BundleLoadError`. */
  static async create(bytes: Uint8Array, limits: SandboxLimits): Promise<ComponentWorkflowTemplate> {
    let compiled: CompiledComponent;
    try {
      compiled = await CompiledComponent.compile(await transpiledOnce(bytes), limits.memoryBytes);
    } catch (error) {
      if (error instanceof ComponentError || error instanceof CoreModuleError) throw new BundleLoadError(error.message);
      if (error instanceof WebAssembly.CompileError || error instanceof WebAssembly.LinkError) throw new BundleLoadError(`the component's core WebAssembly is invalid: ${error.message}`);
      throw error;
    }
    let types = '';
    let template: ComponentTemplate;
    try {
      // Instantiating and asking the types is loading the version: its budget is at least a second, as a bundle's evaluation.
      const budget = Math.max(limits.cpuMsPerActivation, 1000);
      template = ComponentTemplate.create(compiled, limits, budget, (sandbox) => {
        sandbox.begin(0, budget);
        types = sandbox.call('workflowTypes');
      });
    } catch (error) {
      if (error instanceof SandboxCrash) throw new BundleLoadError(error.message);
      throw error;
    }
    return new ComponentWorkflowTemplate(template, workflowTypesOf(types));
  }

  /** Keeps at most `size` reset instances, and no more than `bytes` of their memory. */
  setPoolSize(size: number, bytes: number): void {
    const instanceBytes = this.template.instanceBytes;
    this.template.setPoolSize(instanceBytes > 0 ? Math.min(size, Math.floor(bytes / instanceBytes)) : size);
  }

  get build(): string {
    return this.template.build;
  }

  get memoryBytes(): number {
    return this.template.memoryBytes;
  }

  async newSandbox(): Promise<GuestSandbox> {
    return new ComponentWorkflowSandbox(this.template.fork(), this.template);
  }

  async restore(delta: MemoryImage): Promise<GuestSandbox> {
    return new ComponentWorkflowSandbox(this.template.restore(delta), this.template);
  }
}

function workflowTypesOf(json: unknown): string[] {
  let types: unknown;
  try {
    types = typeof json === 'string' ? JSON.parse(json) : undefined;
  } catch {
    types = undefined;
  }
  if (!Array.isArray(types) || types.length === 0 || !types.every((type) => typeof type === 'string' && type !== '')) {
    throw new BundleLoadError(`the component's workflow-types must return a JSON array of one or more workflow type names, not ${JSON.stringify(String(json).slice(0, 100))}`);
  }
  return types as string[];
}

/** The result with the lines the guest logged through the host appended (a result that is not an object is left for validation to refuse). */
function withLogs(raw: string, logs: { level: string; message: string }[]): string {
  let result: Partial<ActivationResult>;
  try {
    result = JSON.parse(raw) as Partial<ActivationResult>;
  } catch {
    return raw;
  }
  if (typeof result !== 'object' || result === null || !Array.isArray(result.logs)) return raw;
  return JSON.stringify({ ...result, logs: [...result.logs, ...logs] });
}
