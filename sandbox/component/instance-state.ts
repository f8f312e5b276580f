/**
 * A component instance's whole state as one memory image, so that templates, snapshots and
 * their XOR deltas work on components as they do on QuickJS sandboxes (memory-image.ts).
 *
 * The image is laid out in a virtual address space: page 0 holds a header (each memory's
 * size, each mutable global's value, the host's random stream), then each memory has a region
 * as large as the memory cap, so a memory that grows never moves another's pages.
 *
 * @module
 */
import { PAGE_SIZE, type MemoryImage } from '../memory-image.js';
import type { ComponentInstance } from './compiled-component.js';
import type { HostImports } from './host-imports.js';

const WASM_PAGE_BYTES = 64 * 1024;
const ZERO_PAGE = new Uint8Array(PAGE_SIZE);
/** Bytes of the header per global: a tag (number or bigint) and 8 bytes of value. */
const GLOBAL_BYTES = 9;

export class StateLayout {
  /** Image pages each memory's region spans. */
  readonly regionPages: number;
  /** The image's size (what a snapshot's pages must fit). */
  readonly byteLength: number;

  constructor(
    readonly memories: number,
    readonly globals: number,
    maxMemoryBytes: number,
  ) {
    this.regionPages = Math.ceil(maxMemoryBytes / PAGE_SIZE);
    this.byteLength = PAGE_SIZE * (1 + memories * this.regionPages);
    if (4 + 4 * memories + 4 + GLOBAL_BYTES * globals + 16 > PAGE_SIZE) throw new Error(`a component with ${globals} mutable globals does not fit a state header`);
  }

  /** The first image page of memory `index`'s region. */
  regionStart(index: number): number {
    return 1 + index * this.regionPages;
  }

  /** The header page: memory sizes (the instance's, or `memoryBytes`), global values, the random stream's state. */
  header(instance: ComponentInstance, host: HostImports, memoryBytes = instance.memories.map((memory) => memory.buffer.byteLength)): Uint8Array {
    const page = new Uint8Array(PAGE_SIZE);
    const view = new DataView(page.buffer);
    let at = 0;
    view.setUint32(at, instance.memories.length, true);
    at += 4;
    for (const bytes of memoryBytes) {
      view.setUint32(at, bytes / WASM_PAGE_BYTES, true);
      at += 4;
    }
    view.setUint32(at, instance.globals.length, true);
    at += 4;
    for (const global of instance.globals) {
      const value = global.value as number | bigint;
      view.setUint8(at, typeof value === 'bigint' ? 1 : 0);
      if (typeof value === 'bigint') view.setBigInt64(at + 1, value, true);
      else view.setFloat64(at + 1, value, true);
      at += GLOBAL_BYTES;
    }
    for (const word of host.randomState) {
      view.setUint32(at, word, true);
      at += 4;
    }
    return page;
  }

  /** Puts a header's sizes, globals and random state into an instance (memories grow first). */
  applyHeader(page: Uint8Array, instance: ComponentInstance, host: HostImports): void {
    const view = new DataView(page.buffer, page.byteOffset, PAGE_SIZE);
    let at = 0;
    if (view.getUint32(at, true) !== instance.memories.length) throw new Error('the state image has another number of memories than the instance');
    at += 4;
    for (const memory of instance.memories) {
      const pages = view.getUint32(at, true);
      const current = memory.buffer.byteLength / WASM_PAGE_BYTES;
      if (pages < current) throw new Error(`the state image has a memory of ${pages} pages, smaller than a new instance's ${current}`);
      if (pages > current) memory.grow(pages - current);
      at += 4;
    }
    if (view.getUint32(at, true) !== instance.globals.length) throw new Error('the state image has another number of globals than the instance');
    at += 4;
    for (const global of instance.globals) {
      global.value = view.getUint8(at) === 1 ? view.getBigInt64(at + 1, true) : view.getFloat64(at + 1, true);
      at += GLOBAL_BYTES;
    }
    for (let i = 0; i < 4; i++, at += 4) host.randomState[i] = view.getUint32(at, true);
  }

  /**
   * The image pages where the instance differs from `base(page)`: the header page if it does,
   * then every page of each memory, up to its current size.
   */
  differingPages(instance: ComponentInstance, header: Uint8Array, base: (page: number) => Uint8Array): number[] {
    const out: number[] = [];
    if (Buffer.compare(header, base(0)) !== 0) out.push(0);
    instance.memories.forEach((memory, index) => {
      const bytes = Buffer.from(memory.buffer);
      const start = this.regionStart(index);
      for (let page = 0; page * PAGE_SIZE < bytes.length; page++) {
        if (bytes.compare(base(start + page), 0, PAGE_SIZE, page * PAGE_SIZE, (page + 1) * PAGE_SIZE) !== 0) out.push(start + page);
      }
    });
    return out;
  }

  /** Copies the given image pages of the instance (and its header) into an image. */
  capture(instance: ComponentInstance, header: Uint8Array, pages: readonly number[]): MemoryImage {
    const data = new Uint8Array(pages.length * PAGE_SIZE);
    pages.forEach((page, i) => data.set(this.read(instance, header, page), i * PAGE_SIZE));
    return { byteLength: this.byteLength, pages: Uint32Array.from(pages), data };
  }

  /** Writes an image's memory pages into the instance (its header is applied separately, first). */
  writeMemoryPages(instance: ComponentInstance, image: MemoryImage): void {
    image.pages.forEach((page, i) => {
      if (page === 0) return;
      const { memory, offset } = this.locate(instance, page);
      if (offset + PAGE_SIZE > memory.buffer.byteLength) throw new Error(`the state image has a page beyond its memory's size`);
      new Uint8Array(memory.buffer).set(image.data.subarray(i * PAGE_SIZE, (i + 1) * PAGE_SIZE), offset);
    });
  }

  /** Zeros the given image pages of the instance's memories. */
  zeroPages(instance: ComponentInstance, pages: readonly number[]): void {
    for (const page of pages) {
      const { memory, offset } = this.locate(instance, page);
      new Uint8Array(memory.buffer).fill(0, offset, offset + PAGE_SIZE);
    }
  }

  private read(instance: ComponentInstance, header: Uint8Array, page: number): Uint8Array {
    if (page === 0) return header;
    const { memory, offset } = this.locate(instance, page);
    return offset < memory.buffer.byteLength ? new Uint8Array(memory.buffer, offset, PAGE_SIZE) : ZERO_PAGE;
  }

  private locate(instance: ComponentInstance, page: number): { memory: WebAssembly.Memory; offset: number } {
    const index = Math.floor((page - 1) / this.regionPages);
    const memory = instance.memories[index];
    if (!memory) throw new Error(`image page ${page} is outside every memory`);
    return { memory, offset: (page - this.regionStart(index)) * PAGE_SIZE };
  }
}
