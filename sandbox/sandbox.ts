/**
 * One sandbox: a QuickJS runtime and context in their own WebAssembly instance and memory.
 *
 * The host talks to the guest only through named global functions that take one string and
 * return one string (JSON by convention); it never keeps a guest handle between calls, so the
 * whole guest state is the linear memory and can be copied (templates, snapshots).
 *
 * @module
 */
import type { QuickJSContext, QuickJSHandle, QuickJSRuntime } from 'quickjs-emscripten-core';
import { GuestEvaluationError, SandboxCrash, type SandboxCrashKind } from './errors.js';
import { wasmBytesFor, wasmPagesFor, type SandboxLimits } from './limits.js';
import { PAGE_SIZE } from './memory-image.js';
import { writableRanges, type MemoryLayout } from './memory-layout.js';
import type { GuestClock, QuickJSInstance, QuickJSWasm } from './quickjs-wasm.js';
import { guestCallEnded, guestCallStarted } from './watchdog.js';

interface Deadline {
  /** `performance.now()` after which running guest code is interrupted. */
  at: number;
  /** The budget the current unit of work was given, in ms. */
  budgetMs: number;
  /** Set by the interrupt handler once it interrupted the guest. */
  tripped: boolean;
}

const isSuccess = (result: unknown): boolean => typeof result !== 'object' || result === null || !('error' in result) || (result as { error?: unknown }).error === undefined;
const disposeError = (result: unknown): void => (result as { error: { dispose(): void } }).error.dispose();

interface GuestError {
  name?: string;
  message?: string;
  stack?: string;
}

export class Sandbox {
  private crash: SandboxCrash | undefined;
  private disposed = false;

  private constructor(
    private readonly instance: QuickJSInstance,
    private readonly runtime: QuickJSRuntime,
    private readonly context: QuickJSContext,
    private readonly clock: GuestClock,
    /** Shared with the interrupt handler. */
    private readonly deadline: Deadline,
    readonly limits: SandboxLimits,
    private readonly layout: MemoryLayout | undefined,
  ) {}

  /**
   * Boots a fresh sandbox. The sequence of allocations here must be the same on every boot:
   * a fork or a snapshot restore writes another sandbox's memory over a freshly booted one,
   * and the host-side wrappers created here must point at the same guest addresses.
   */
  static async boot(wasm: QuickJSWasm, limits: SandboxLimits): Promise<Sandbox> {
    const clock: GuestClock = { now: 0 };
    const maximum = wasmPagesFor(limits);
    const instance = await wasm.newInstance({ initial: wasm.initialPages(maximum), maximum }, clock);
    const runtime = instance.module.newRuntime();
    runtime.setMemoryLimit(limits.memoryBytes);
    runtime.setMaxStackSize(limits.stackBytes);
    const deadline: Deadline = { at: Infinity, budgetMs: limits.cpuMsPerActivation, tripped: false };
    runtime.setInterruptHandler(() => {
      if (performance.now() <= deadline.at) return false;
      deadline.tripped = true;
      return true;
    });
    const context = runtime.newContext();
    // Allocated here, so the handle's guest cell exists in every image taken of this instance.
    void context.global;
    return new Sandbox(instance, runtime, context, clock, deadline, limits, wasm.layout);
  }

  /**
   * Hands this instance to a new owner (a template reusing it once its memory was reset):
   * this object becomes unusable, so a stale reference cannot touch the new owner's state.
   */
  transfer(): Sandbox {
    if (this.unusable) throw new Error('a crashed or disposed sandbox cannot be transferred');
    this.disposed = true;
    return new Sandbox(this.instance, this.runtime, this.context, this.clock, this.deadline, this.limits, this.layout);
  }

  /** The sandbox's linear memory (for templates and snapshots; never while a call runs). */
  get memory(): WebAssembly.Memory {
    return this.instance.memory;
  }

  /**
   * Grows the memory to at least `bytes` (before an image reaching that far is written over
   * it); the guest's allocator grows it the same way.
   */
  growMemoryTo(bytes: number): void {
    if (bytes <= this.memory.buffer.byteLength) return;
    if (!this.instance.growTo(bytes)) throw new RangeError(`a sandbox memory cannot grow to ${bytes} bytes: its maximum is ${wasmBytesFor(this.limits)}`);
  }

  /** True once the sandbox crashed or was disposed: it must not be used again. */
  get unusable(): boolean {
    return this.disposed || this.crash !== undefined;
  }

  /**
   * Starts a unit of guest work (an activation, a query): sets the time the guest sees and
   * arms the CPU budget that every call until the next `begin` shares. Calls made after the
   * budget ran out are interrupted at once, so every unit of work must begin with this.
   */
  begin(time: number, budgetMs = this.limits.cpuMsPerActivation): void {
    this.clock.now = time;
    this.deadline.at = performance.now() + budgetMs;
    this.deadline.budgetMs = budgetMs;
    this.deadline.tripped = false;
  }

  /**
   * Runs `fn` (guest calls) and then puts the sandbox's memory back as it was: whatever the
   * guest did meanwhile — state it mutated, random numbers it drew, memory it allocated — is
   * undone. For what must not change a run: queries and update validators. If the guest
   * crashes, the sandbox stays crashed (its wasm stack pointer may not be back at its base).
   */
  isolated<T>(fn: () => T): T {
    this.assertUsable();
    const before = writableRanges(this.layout, this.memory, this.limits.stackBytes);
    const saved = before.map(([start, end]) => new Uint8Array(this.memory.buffer, start * PAGE_SIZE, (end - start) * PAGE_SIZE).slice());
    try {
      return fn();
    } finally {
      if (!this.unusable) {
        // Read after `fn`: a memory the guest grew has a new buffer.
        const bytes = new Uint8Array(this.memory.buffer);
        // Pages the guest wrote beyond what was in use (its heap grew) were zero before.
        const heapEnd = before[before.length - 1][1];
        const grownTo = writableRanges(this.layout, this.memory, this.limits.stackBytes).at(-1)![1];
        if (grownTo > heapEnd) bytes.fill(0, heapEnd * PAGE_SIZE, grownTo * PAGE_SIZE);
        before.forEach(([start], i) => bytes.set(saved[i], start * PAGE_SIZE));
      }
    }
  }

  /** Evaluates a script at global scope. A guest exception becomes a `GuestEvaluationError`. */
  evalScript(source: string, filename: string): void {
    this.assertUsable();
    const result = this.guard(() => this.context.evalCode(source, filename, { type: 'global' }));
    if (result.error) {
      const error = this.takeError(result.error);
      const crashKind = crashKindOf(error);
      if (crashKind) throw this.crashWith(crashKind, describeGuestError(error), error.stack);
      throw new GuestEvaluationError(describeGuestError(error), error.stack);
    }
    result.value.dispose();
  }

  /** Calls the global function `entry` with one string argument; it must return a string. */
  call(entry: string, argument: string): string {
    this.assertUsable();
    const { context } = this;
    const fn = context.getProp(context.global, entry);
    const arg = context.newString(argument);
    try {
      const result = this.guard(() => context.callFunction(fn, context.undefined, arg));
      if (result.error) {
        const error = this.takeError(result.error);
        throw this.crashWith(crashKindOf(error) ?? 'guest-error', `${entry}: ${describeGuestError(error)}`, error.stack);
      }
      const value = result.value;
      try {
        if (context.typeof(value) !== 'string') throw this.crashWith('guest-error', `${entry} did not return a string`);
        return context.getString(value);
      } finally {
        value.dispose();
      }
    } finally {
      fn.dispose();
      arg.dispose();
    }
  }

  /** Runs the guest's promise jobs until none is left. */
  runPendingJobs(): void {
    this.assertUsable();
    const result = this.guard(() => this.runtime.executePendingJobs(-1));
    if (result.error) {
      const error = this.takeError(result.error);
      throw this.crashWith(crashKindOf(error) ?? 'guest-error', `a promise job threw: ${describeGuestError(error)}`, error.stack);
    }
  }

  /**
   * Releases the sandbox. Its whole state is its linear memory, which the JavaScript GC
   * reclaims once nothing references the instance; freeing QuickJS objects one by one first
   * would only cost time (and could assert on a crashed runtime).
   */
  dispose(): void {
    this.disposed = true;
  }

  private guard<T>(fn: () => T): T {
    let result: T;
    guestCallStarted(this.deadline.at);
    try {
      result = fn();
    } catch (error) {
      if (error instanceof SandboxCrash) throw error;
      // A trap or a host stack overflow inside wasm leaves the instance in an unknown state.
      throw this.crashWith('trap', `WebAssembly trap: ${(error as Error).message}`);
    } finally {
      guestCallEnded();
    }
    // An interrupt inside a promise job only rejects that job's promise, and the guest may
    // catch it anyway: the host decides from its own record that the budget ran out.
    if (this.deadline.tripped) {
      if (!isSuccess(result)) disposeError(result);
      throw this.crashWith('cpu-budget', `the activation used more than its CPU budget of ${this.deadline.budgetMs} ms`);
    }
    return result;
  }

  /** What the guest threw, as plain strings; disposes the handle. */
  private takeError(handle: QuickJSHandle): GuestError {
    // Reading the error runs guest code (getters, toJSON): still under the unit's deadline.
    guestCallStarted(this.deadline.at);
    try {
      const dumped = this.context.dump(handle) as unknown;
      if (typeof dumped !== 'object' || dumped === null) return { message: String(dumped) };
      const { name, message, stack } = dumped as Record<string, unknown>;
      if (typeof message === 'string') return { name: typeof name === 'string' ? name : undefined, message, stack: typeof stack === 'string' ? stack : undefined };
      return { message: `a value that is not an Error was thrown: ${JSON.stringify(dumped).slice(0, 200)}` };
    } finally {
      guestCallEnded();
      // `dump` disposes the handle itself when the value is a promise.
      if (handle.alive) handle.dispose();
    }
  }

  private crashWith(kind: SandboxCrashKind, message: string, guestStack?: string): SandboxCrash {
    this.crash ??= new SandboxCrash(kind, message, guestStack);
    return this.crash;
  }

  private assertUsable(): void {
    if (this.crash) throw this.crash;
    if (this.disposed) throw new Error('sandbox used after dispose');
  }
}

function describeGuestError(error: GuestError): string {
  const name = error.name ?? 'Error';
  return error.message === undefined ? name : `${name}: ${error.message}`;
}

/** Guest errors that mean a limit was hit: the guest's state can no longer be trusted. */
function crashKindOf(error: GuestError): SandboxCrashKind | undefined {
  if (error.name !== 'InternalError' && error.name !== 'RangeError') return undefined;
  if (error.message === 'interrupted') return 'cpu-budget';
  if (error.message === 'out of memory') return 'memory-limit';
  if (error.message?.includes('stack overflow')) return 'stack-overflow';
  return undefined;
}
