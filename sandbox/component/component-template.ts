/**
 * Component templates: instantiate a component once, run its setup (asking its workflow
 * types), and keep its state image (instance-state.ts). Every sandbox of that component is a
 * pooled instance reset to the template (only the pages its run changed are rewritten) or a
 * new instance with the template's state written over it (only the pages the setup changed),
 * and a snapshot is a delta against the template, as for QuickJS sandboxes.
 *
 * @module
 */
import { createHash } from 'node:crypto';
import { SandboxCrash } from '../errors.js';
import type { SandboxLimits } from '../limits.js';
import { ImageIndex, PAGE_SIZE, type MemoryImage } from '../memory-image.js';
import { guestCallEnded, guestCallStarted } from '../watchdog.js';
import type { CompiledComponent } from './compiled-component.js';
import { ComponentSandbox } from './component-sandbox.js';
import { HostImports } from './host-imports.js';
import { StateLayout } from './instance-state.js';

const ZERO_PAGE = new Uint8Array(PAGE_SIZE);

export class ComponentTemplate {
  private readonly index: ImageIndex;
  private readonly pool: ComponentSandbox[] = [];
  /** Reset instances kept for the next fork (instantiating a large component is what a fork costs). */
  poolSize = 0;
  /** What images of this template's sandboxes are valid for: the memory cap and the template's own bytes. */
  readonly build: string;

  private constructor(
    private readonly compiled: CompiledComponent,
    readonly limits: SandboxLimits,
    private readonly layout: StateLayout,
    readonly image: MemoryImage,
    /** Pages where the template differs from a new instance: what a fork writes. */
    private readonly forkPages: number[],
    /** The size of each of the template instance's memories. */
    private readonly memorySizes: number[],
  ) {
    this.index = new ImageIndex(image);
    const hash = createHash('sha256').update(image.pages).update(image.data).digest('hex').slice(0, 16);
    this.build = `component;memory=${limits.memoryBytes};template=${hash}`;
  }

  /** Instantiates the component, runs `setup` on it and keeps the resulting state. */
  static create(compiled: CompiledComponent, limits: SandboxLimits, setupBudgetMs: number, setup: (sandbox: ComponentSandbox) => void): ComponentTemplate {
    const sandbox = ComponentTemplate.instantiate(compiled, limits, setupBudgetMs);
    const { instance, host } = sandbox;
    const layout = new StateLayout(instance.memories.length, instance.globals.length, limits.memoryBytes);
    const zeros = (): Uint8Array => ZERO_PAGE;
    const bootHeader = layout.header(instance, host);
    const boot = new ImageIndex(layout.capture(instance, bootHeader, layout.differingPages(instance, bootHeader, zeros)));
    setup(sandbox);
    const header = layout.header(instance, host);
    const image = layout.capture(instance, header, layout.differingPages(instance, header, zeros));
    const forkPages = layout.differingPages(instance, header, (page) => boot.page(page));
    return new ComponentTemplate(compiled, limits, layout, image, forkPages, instance.memories.map((memory) => memory.buffer.byteLength));
  }

  /** A new instance; its start functions run under the CPU budget, like any guest code. */
  private static instantiate(compiled: CompiledComponent, limits: SandboxLimits, budgetMs = limits.cpuMsPerActivation): ComponentSandbox {
    const host = new HostImports();
    guestCallStarted(performance.now() + budgetMs);
    try {
      return new ComponentSandbox(compiled.instantiate(host), host, limits);
    } catch (error) {
      throw new SandboxCrash('trap', `instantiating the component failed: ${error instanceof Error ? error.message : String(error)}`);
    } finally {
      guestCallEnded();
    }
  }

  /** Size of the state image (what a snapshot's pages must fit). */
  get memoryBytes(): number {
    return this.layout.byteLength;
  }

  /** Memory an instance of the template holds (what a pooled one costs). */
  get instanceBytes(): number {
    return this.memorySizes.reduce((sum, size) => sum + size, 0);
  }

  /** Keeps at most `size` pooled instances from now on. */
  setPoolSize(size: number): void {
    this.poolSize = size;
    for (const extra of this.pool.splice(size)) extra.dispose();
  }

  /** A sandbox in exactly the state the template's setup left. */
  fork(): ComponentSandbox {
    const pooled = this.pool.pop();
    if (pooled) return pooled;
    const sandbox = ComponentTemplate.instantiate(this.compiled, this.limits);
    this.layout.applyHeader(this.index.page(0), sandbox.instance, sandbox.host);
    this.layout.writeMemoryPages(sandbox.instance, { byteLength: this.image.byteLength, pages: Uint32Array.from(this.forkPages), data: this.pagesOf(this.forkPages) });
    return sandbox;
  }

  /** The sandbox's state as a delta against the template (between units of guest work). */
  capture(sandbox: ComponentSandbox): MemoryImage {
    return this.delta(sandbox, this.layout.header(sandbox.instance, sandbox.host));
  }

  /**
   * A new instance in the state of one whose memory a query grew (its contents already put
   * back): the same state, at the memory sizes it had before. The old instance is dropped.
   */
  rebuild(sandbox: ComponentSandbox): ComponentSandbox {
    const delta = this.delta(sandbox, this.layout.header(sandbox.instance, sandbox.host, sandbox.grownFrom));
    sandbox.dispose();
    return this.restore(delta);
  }

  /** The pages where the sandbox (with `header`) differs from the template, each XOR-ed with the template's. */
  private delta(sandbox: ComponentSandbox, header: Uint8Array): MemoryImage {
    const delta = this.layout.capture(sandbox.instance, header, this.layout.differingPages(sandbox.instance, header, (page) => this.index.page(page)));
    this.index.xor(delta);
    return delta;
  }

  /** A sandbox in the state a `capture` of this template recorded. */
  restore(delta: MemoryImage): ComponentSandbox {
    const sandbox = this.fork();
    const state: MemoryImage = { ...delta, data: delta.data.slice() };
    this.index.xor(state);
    const headerAt = state.pages.indexOf(0);
    if (headerAt >= 0) this.layout.applyHeader(state.data.subarray(headerAt * PAGE_SIZE, (headerAt + 1) * PAGE_SIZE), sandbox.instance, sandbox.host);
    this.layout.writeMemoryPages(sandbox.instance, state);
    return sandbox;
  }

  /**
   * Takes back a sandbox its run no longer needs: unless it crashed, or a memory grew past the
   * template's (a memory cannot shrink, and a guest may read its size), the pages it changed
   * are reset to the template's and it waits in the pool for the next fork.
   */
  release(sandbox: ComponentSandbox): void {
    const grown = sandbox.instance.memories.some((memory, i) => memory.buffer.byteLength > this.memorySizes[i]);
    if (sandbox.unusable || grown || this.pool.length >= this.poolSize) {
      sandbox.dispose();
      return;
    }
    const header = this.layout.header(sandbox.instance, sandbox.host);
    const changed = this.layout.differingPages(sandbox.instance, header, (page) => this.index.page(page));
    this.layout.applyHeader(this.index.page(0), sandbox.instance, sandbox.host);
    this.layout.writeMemoryPages(sandbox.instance, { byteLength: this.image.byteLength, pages: Uint32Array.from(changed), data: this.pagesOf(changed) });
    sandbox.takeLogs();
    this.pool.push(sandbox.transfer());
  }

  private pagesOf(pages: readonly number[]): Uint8Array {
    const data = new Uint8Array(pages.length * PAGE_SIZE);
    pages.forEach((page, i) => data.set(this.index.page(page), i * PAGE_SIZE));
    return data;
  }
}
