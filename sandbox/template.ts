/**
 * Sandbox templates: boot one sandbox, run its setup (guest runtime, bundle), and keep its
 * memory image. Every further sandbox of that setup is either a pooled instance reset to the
 * image (only the pages it changed are rewritten) or a fresh boot with the image written
 * over it — instead of evaluating the bundle again.
 *
 * @module
 */
import { createHash } from 'node:crypto';
import { wasmBytesFor, wasmPagesFor, type SandboxLimits } from './limits.js';
import { usedBytes, writableRanges } from './memory-layout.js';
import { captureImage, ImageIndex, imageEnd, nonZeroPages, writeImage, xorInto, type MemoryImage } from './memory-image.js';
import type { QuickJSWasm } from './quickjs-wasm.js';
import { Sandbox } from './sandbox.js';

/**
 * Reset instances kept per template by default, ready for the next run. Creating instances
 * is what costs (each is a new wasm memory, every page written into it a page fault, and V8
 * answers a stream of them with garbage collections), so the pool keeps what a burst of
 * concurrent runs needed; a pooled instance costs about 0.6 MiB of resident memory.
 */
export const DEFAULT_POOL_SIZE = 1024;

export class SandboxTemplate {
  private readonly pool: Sandbox[] = [];
  private readonly index: ImageIndex;

  /** Reset instances kept for the next fork. */
  poolSize = DEFAULT_POOL_SIZE;

  private constructor(
    private readonly wasm: QuickJSWasm,
    readonly limits: SandboxLimits,
    /** The memory pages the template's setup left non-zero. */
    readonly image: MemoryImage,
    /** Pages a fresh boot writes that the image does not cover: zeroed on fork. */
    private readonly zeroPages: number[],
  ) {
    this.index = new ImageIndex(image);
    const hash = createHash('sha256').update(image.pages).update(image.data).digest('hex').slice(0, 16);
    this.build = `${wasm.buildId};pages=${wasmPagesFor(limits)};heap=${limits.memoryBytes};stack=${limits.stackBytes};template=${hash}`;
  }

  /**
   * Identifies what a memory image of this template's sandboxes is valid for: the QuickJS
   * build, the memory size and limits, and the template's own bytes. A snapshot taken under
   * another build is not used.
   */
  readonly build: string;

  /** Boots a sandbox, runs `setup` in it, and captures the result as a template. */
  static async create(wasm: QuickJSWasm, limits: SandboxLimits, setup: (sandbox: Sandbox) => void): Promise<SandboxTemplate> {
    const sandbox = await Sandbox.boot(wasm, limits);
    const written = () => writableRanges(wasm.layout, sandbox.memory, limits.stackBytes);
    const bootPages = nonZeroPages(sandbox.memory, written());
    setup(sandbox);
    const templatePages = nonZeroPages(sandbox.memory, written());
    const image = captureImage(sandbox.memory, templatePages, wasmBytesFor(limits));
    const covered = new Set(templatePages);
    const template = new SandboxTemplate(wasm, limits, image, bootPages.filter((page) => !covered.has(page)));
    template.release(sandbox);
    return template;
  }

  /** Keeps at most `size` pooled instances from now on (dropping the extra ones). */
  setPoolSize(size: number): void {
    this.poolSize = size;
    for (const extra of this.pool.splice(size)) extra.dispose();
  }

  /** A sandbox in exactly the state the template's setup left. */
  async fork(): Promise<Sandbox> {
    const pooled = this.pool.pop();
    if (pooled) return pooled;
    const sandbox = await Sandbox.boot(this.wasm, this.limits);
    sandbox.growMemoryTo(imageEnd(this.image));
    writeImage(sandbox.memory, this.image, this.zeroPages);
    return sandbox;
  }

  /** Pages where `sandbox` now differs from the template (what a snapshot must keep). */
  changedPages(sandbox: Sandbox): number[] {
    return this.index.differingPages(sandbox.memory, writableRanges(this.wasm.layout, sandbox.memory, this.limits.stackBytes));
  }

  /**
   * The sandbox's state as a delta against the template: the pages that differ, each XOR-ed
   * with the template's page (mostly zeros). Only between units of guest work.
   */
  capture(sandbox: Sandbox): MemoryImage {
    const delta = captureImage(sandbox.memory, this.changedPages(sandbox), this.image.byteLength);
    this.index.xor(delta);
    return delta;
  }

  /** A sandbox in the state a `capture` of this template recorded. */
  async restore(delta: MemoryImage): Promise<Sandbox> {
    const sandbox = await this.fork();
    sandbox.growMemoryTo(imageEnd(delta));
    const pages = captureImage(sandbox.memory, Array.from(delta.pages), delta.byteLength);
    // The fork holds the template's pages: XOR-ing the delta onto them gives the captured bytes.
    xorInto(pages.data, delta.data);
    writeImage(sandbox.memory, pages);
    return sandbox;
  }

  /** Memory the sandbox uses (its cost while resident). */
  residentBytes(sandbox: Sandbox): number {
    return usedBytes(this.wasm.layout, sandbox.memory, this.limits.stackBytes);
  }

  /**
   * Takes back a sandbox of this template that its owner no longer needs: unless it crashed,
   * its changed pages are reset to the template and it waits in the pool for the next fork.
   */
  release(sandbox: Sandbox): void {
    if (sandbox.unusable || this.pool.length >= this.poolSize) {
      sandbox.dispose();
      return;
    }
    this.index.restore(sandbox.memory, this.changedPages(sandbox));
    this.pool.push(sandbox.transfer());
  }
}
