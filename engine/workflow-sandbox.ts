/**
 * Workflow sandboxes: a sandbox with the guest runtime and one bundle loaded, driven through
 * the guest entry points (common/protocol.ts). One template per bundle version; every run
 * gets its own sandbox forked from it.
 *
 * @module
 */
import { ADVANCE_AGAIN, BUNDLE_FILENAME, GUEST_ENTRY, type Activation, type QueryResult, type ValidationResult } from '../common/protocol.js';
import { GuestEvaluationError, SandboxCrash, SandboxTemplate, type MemoryImage, type QuickJSWasm, type Sandbox, type SandboxLimits } from '../sandbox/index.js';

/** A bundle that cannot be loaded: it throws at evaluation, or exports no workflow. */
export class BundleLoadError extends Error {
  override name = 'BundleLoadError';
}

/** The calls an activation is driven through: a QuickJS sandbox's, or a debug realm's (sandbox/debug-realm.ts). */
export interface GuestCalls {
  begin(time: number): void;
  call(entry: string, argument: string): string;
  runPendingJobs(): void;
}

/** What replays deliver activations to: a workflow sandbox, or a debug replay's realm. */
export interface ActivationTarget {
  activate(activation: Activation): string;
}

/** A run's sandbox, of either kind: QuickJS running a bundle, or a WebAssembly component (component-workflow.ts). */
export interface GuestSandbox extends ActivationTarget {
  readonly unusable: boolean;
  query(name: string, args: unknown[], time: number): QueryResult;
  validateUpdate(updateId: string, name: string, args: unknown[], time: number): ValidationResult;
  dispose(): void;
  capture(): MemoryImage;
  readonly build: string;
  readonly residentBytes: number;
}

/** A deployed version made ready in a sandbox thread: what its runs' sandboxes are forked from. */
export interface GuestTemplate {
  readonly workflowTypes: string[];
  readonly build: string;
  /** Size of a state image (what a snapshot's pages must fit). */
  readonly memoryBytes: number;
  /** Bounds the instances kept ready for new sandboxes: at most `size`, holding at most `bytes` of memory. */
  setPoolSize(size: number, bytes: number): void;
  newSandbox(): Promise<GuestSandbox>;
  restore(delta: MemoryImage): Promise<GuestSandbox>;
}

/**
 * Runs one activation: delivers each job, draining the promise jobs it caused and
 * unblocking conditions until the guest is idle, then collects the commands. Returns the
 * guest's raw JSON result, which the caller validates.
 */
export function runActivation(guest: GuestCalls, activation: Activation): string {
  guest.begin(activation.time);
  guest.call(GUEST_ENTRY.activate, JSON.stringify(activation));
  for (;;) {
    guest.runPendingJobs();
    const result = guest.call(GUEST_ENTRY.advance, '');
    if (result !== ADVANCE_AGAIN) return result;
  }
}

export class WorkflowSandbox implements GuestSandbox {
  constructor(
    private readonly sandbox: Sandbox,
    private readonly template: SandboxTemplate,
  ) {}

  get unusable(): boolean {
    return this.sandbox.unusable;
  }

  /** Runs one activation (see `runActivation`). Throws `SandboxCrash`. */
  activate(activation: Activation): string {
    return runActivation(this.sandbox, activation);
  }

  /** Runs a query handler; whatever it changes in the sandbox is undone (see `Sandbox.isolated`). */
  query(name: string, args: unknown[], time: number): QueryResult {
    return this.isolatedCall(GUEST_ENTRY.query, { name, args }, time) as QueryResult;
  }

  /** Runs an update's validator (and checks it has a handler), undoing whatever it changes. */
  validateUpdate(updateId: string, name: string, args: unknown[], time: number): ValidationResult {
    return this.isolatedCall(GUEST_ENTRY.validateUpdate, { updateId, name, args }, time) as ValidationResult;
  }

  private isolatedCall(entry: string, request: { name: string; args: unknown[]; updateId?: string }, time: number): { ok: boolean } {
    const raw = this.sandbox.isolated(() => {
      this.sandbox.begin(time);
      return this.sandbox.call(entry, JSON.stringify(request));
    });
    return isolatedResult(entry, raw);
  }

  /** Gives the sandbox back to its template (which reuses it unless it crashed). */
  dispose(): void {
    this.template.release(this.sandbox);
  }

  /** The sandbox's state as a delta against its template (between activations only). */
  capture(): MemoryImage {
    return this.template.capture(this.sandbox);
  }

  /** What images of this sandbox are valid for (its template's build). */
  get build(): string {
    return this.template.build;
  }

  /** Memory the sandbox uses. */
  get residentBytes(): number {
    return this.template.residentBytes(this.sandbox);
  }
}

/** What a query or an update validator answered, checked: `{ ok, ... }` as JSON, or a `SandboxCrash`. */
export function isolatedResult(entry: string, raw: string): { ok: boolean } {
  let result: { ok?: unknown };
  try {
    result = JSON.parse(raw) as { ok?: unknown };
  } catch {
    throw new SandboxCrash('guest-error', `${entry} did not return JSON`);
  }
  if (typeof result !== 'object' || result === null || typeof result.ok !== 'boolean') {
    throw new SandboxCrash('guest-error', `${entry} must return { ok, ... }`);
  }
  return result as { ok: boolean };
}

/** A bundle version, evaluated once: new sandboxes of it are forks of this template. */
export class WorkflowTemplate implements GuestTemplate {
  private constructor(
    private readonly template: SandboxTemplate,
    readonly workflowTypes: string[],
  ) {}

  /** Bounds the instances kept ready for new sandboxes of this template (each holds about the bytes `size` was counted in). */
  setPoolSize(size: number): void {
    this.template.setPoolSize(size);
  }

  /** Size of a sandbox memory (what a snapshot's pages must fit). */
  get memoryBytes(): number {
    return this.template.image.byteLength;
  }

  /** What images of this template's sandboxes are valid for (see `SandboxTemplate.build`). */
  get build(): string {
    return this.template.build;
  }

  /** A sandbox in the state a `capture` recorded. */
  async restore(delta: MemoryImage): Promise<WorkflowSandbox> {
    return new WorkflowSandbox(await this.template.restore(delta), this.template);
  }

  /** Evaluates the guest runtime and `code`; a bundle that throws is a `BundleLoadError`. */
  static async create(wasm: QuickJSWasm, limits: SandboxLimits, runtimeSource: string, code: string): Promise<WorkflowTemplate> {
    let workflowTypes: string[] = [];
    let template: SandboxTemplate;
    try {
      const budget = evaluationBudgetMs(limits);
      template = await SandboxTemplate.create(wasm, limits, (sandbox) => {
        sandbox.begin(0, budget);
        sandbox.evalScript(runtimeSource, 'aion-guest-runtime.js');
        sandbox.begin(0, budget);
        sandbox.evalScript(wrapBundle(code), BUNDLE_FILENAME);
        sandbox.begin(0, budget);
        sandbox.runPendingJobs();
        workflowTypes = JSON.parse(sandbox.call(GUEST_ENTRY.workflowTypes, '')) as string[];
      });
    } catch (error) {
      if (error instanceof GuestEvaluationError || error instanceof SandboxCrash) {
        throw new BundleLoadError(`the bundle failed to evaluate: ${error.message}`);
      }
      throw error;
    }
    if (workflowTypes.length === 0) throw new BundleLoadError('the bundle exports no workflow function');
    return new WorkflowTemplate(template, workflowTypes);
  }

  async newSandbox(): Promise<WorkflowSandbox> {
    return new WorkflowSandbox(await this.template.fork(), this.template);
  }
}

/**
 * Evaluating a bundle (once per version and thread) may take longer than an activation: a
 * large bundle on a busy machine needs more than a tight activation budget allows. It still
 * has a budget, and runs in a sandbox thread under the watchdog.
 */
const MIN_EVALUATION_BUDGET_MS = 1000;
const evaluationBudgetMs = (limits: SandboxLimits): number => Math.max(limits.cpuMsPerActivation, MIN_EVALUATION_BUDGET_MS);

/**
 * A bundle is a CommonJS script; it runs as the body of a function given `module`,
 * `exports` and a `require` that only knows the workflow API. The wrapper's first line
 * shifts the bundle's lines by `BUNDLE_LINE_OFFSET` in the sandbox's stack frames.
 */
export const BUNDLE_LINE_OFFSET = 1;
export function wrapBundle(code: string): string {
  return `${GUEST_ENTRY.loadBundle}(function (module, exports, require) {\n${code}\n});`;
}
