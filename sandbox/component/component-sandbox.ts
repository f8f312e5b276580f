/**
 * One component sandbox: an instance of a workflow component, called through its guest
 * interface (wit/workflow.wit), under the same rules as a QuickJS sandbox.
 *
 * - CPU: a component cannot be interrupted, so each call publishes its unit's deadline to the
 *   sandbox thread's watchdog, which stops the whole thread if the call overruns (the other
 *   runs of that thread come back from snapshots or by replay); a call that returns past the
 *   deadline crashes the sandbox as QuickJS's interrupt would.
 * - Memory: the component's one memory is capped (core-module.ts): `memory.grow` past the cap
 *   fails, and most languages then trap. WebAssembly does not say why a trap happened, so the
 *   crash says how much of the cap the memory used.
 * - Any trap, an error from the glue, or an export that returns a promise crashes the sandbox:
 *   its state can no longer be trusted.
 *
 * @module
 */
import { SandboxCrash, type SandboxCrashKind } from '../errors.js';
import type { SandboxLimits } from '../limits.js';
import { guestCallEnded, guestCallStarted } from '../watchdog.js';
import type { ComponentInstance, GuestExports } from './compiled-component.js';
import type { HostImports, LogLevel } from './host-imports.js';

const mebibytes = (bytes: number): string => `${(bytes / 2 ** 20).toFixed(1)} MiB`;

export class ComponentSandbox {
  private crash: SandboxCrash | undefined;
  private disposed = false;
  private deadline = { at: Infinity, budgetMs: 0 };
  /** Set when a query grew a memory: the sizes of the memories before it. */
  grownFrom: number[] | undefined;

  constructor(
    readonly instance: ComponentInstance,
    readonly host: HostImports,
    readonly limits: SandboxLimits,
  ) {}

  /**
   * Hands this instance to a new owner (a template reusing it once its state was reset): this
   * object becomes unusable, so a stale reference cannot touch the new owner's state.
   */
  transfer(): ComponentSandbox {
    if (this.unusable) throw new Error('a crashed or disposed sandbox cannot be transferred');
    this.disposed = true;
    return new ComponentSandbox(this.instance, this.host, this.limits);
  }

  /** True once the sandbox crashed or was disposed. */
  get unusable(): boolean {
    return this.disposed || this.crash !== undefined;
  }

  /** Starts a unit of guest work: the time the guest's clock answers, and the CPU budget every call until the next `begin` shares. */
  begin(time: number, budgetMs = this.limits.cpuMsPerActivation): void {
    this.host.time = time;
    this.deadline = { at: performance.now() + budgetMs, budgetMs };
  }

  /** Calls a function of the guest interface. Throws `SandboxCrash`. */
  call<K extends keyof GuestExports>(name: K, ...args: Parameters<GuestExports[K]>): ReturnType<GuestExports[K]> {
    if (this.crash) throw this.crash;
    if (this.disposed) throw new Error('sandbox used after dispose');
    const fn = this.instance.guest[name] as (...args: unknown[]) => ReturnType<GuestExports[K]>;
    let result: ReturnType<GuestExports[K]>;
    guestCallStarted(this.deadline.at);
    try {
      result = fn(...args);
    } catch (error) {
      throw this.crashWith(this.crashKindOf(error), `${name}: ${error instanceof Error ? error.message : String(error)}`);
    } finally {
      guestCallEnded();
    }
    if (performance.now() > this.deadline.at) throw this.crashWith('cpu-budget', `the activation used more than its CPU budget of ${this.deadline.budgetMs} ms`);
    // An export lifted as async would go on running outside any budget.
    if (result instanceof Promise) throw this.crashWith('guest-error', `${name} returned a promise: a workflow component's exports are synchronous`);
    return result;
  }

  /** Restarts the random stream the guest draws from (a run's seed). */
  seedRandom(seed: number): void {
    this.host.seed(seed);
  }

  /** The log lines the guest wrote since the last time they were taken. */
  takeLogs(): { level: LogLevel; message: string }[] {
    const logs = this.host.logs;
    this.host.logs = [];
    return logs;
  }

  /**
   * Runs `fn` (guest calls) and then puts the instance back as it was: memories, globals, the
   * random stream and the log. A memory cannot shrink, and a guest may read its size: if one
   * grew, its new pages are zeroed and `grownFrom` says the sizes before (the template then
   * rebuilds the instance at those sizes).
   */
  isolated<T>(fn: () => T): T {
    const { memories, globals } = this.instance;
    const saved = memories.map((memory) => new Uint8Array(memory.buffer).slice());
    const values = globals.map((global) => global.value as unknown);
    const random = this.host.randomState.slice();
    const logs = this.host.logs.length;
    try {
      return fn();
    } finally {
      if (!this.unusable) {
        memories.forEach((memory, i) => {
          const bytes = new Uint8Array(memory.buffer);
          bytes.set(saved[i]);
          if (bytes.length > saved[i].length) {
            bytes.fill(0, saved[i].length);
            this.grownFrom = saved.map((copy) => copy.length);
          }
        });
        globals.forEach((global, i) => (global.value = values[i]));
        this.host.randomState.set(random);
        this.host.logs.length = logs;
      }
    }
  }

  /** Memory the sandbox holds. */
  get residentBytes(): number {
    return this.instance.memories.reduce((sum, memory) => sum + memory.buffer.byteLength, 0);
  }

  dispose(): void {
    this.disposed = true;
  }

  private crashKindOf(error: unknown): SandboxCrashKind {
    if (error instanceof RangeError && /call stack/i.test(error.message)) return 'stack-overflow';
    return error instanceof WebAssembly.RuntimeError ? 'trap' : 'guest-error';
  }

  private crashWith(kind: SandboxCrashKind, message: string): SandboxCrash {
    const [memory] = this.instance.memories;
    if (kind === 'trap' && memory) message += ` (its memory used ${mebibytes(memory.buffer.byteLength)} of its ${mebibytes(this.limits.memoryBytes)} cap)`;
    this.crash ??= new SandboxCrash(kind, message);
    return this.crash;
  }
}
