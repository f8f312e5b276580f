/**
 * Page-level images of a sandbox's linear memory. A fresh instance's memory is all zeros
 * except what booting wrote, so an image only needs the pages that are not zero (templates)
 * or that differ from a base image (snapshots).
 *
 * @module
 */

/** Granularity of images: small enough that a step dirties few pages, large enough to scan fast. */
export const PAGE_SIZE = 4096;
const ZERO_PAGE = Buffer.alloc(PAGE_SIZE);

/** Page indexes and their bytes, concatenated in index order. */
export interface MemoryImage {
  /** The address space the page indexes refer to: the most the memory grows to. */
  byteLength: number;
  pages: Uint32Array;
  data: Uint8Array;
}

const bytesOf = (memory: WebAssembly.Memory): Buffer => Buffer.from(memory.buffer);

/** Whether page `page` of `bytes` (a memory's bytes) is all zeros. */
export const isZeroPage = (bytes: Buffer, page: number): boolean => bytes.compare(ZERO_PAGE, 0, PAGE_SIZE, page * PAGE_SIZE, (page + 1) * PAGE_SIZE) === 0;

/**
 * Indexes of the pages inside `ranges` (`[start, end)` page ranges) that are not all zeros.
 * Reading a page nothing ever wrote still costs a page fault (the first read of a whole 40 MiB
 * memory takes ~200 ms): callers pass the ranges a sandbox may have written (memory-layout.ts).
 */
export function nonZeroPages(memory: WebAssembly.Memory, ranges: readonly [number, number][]): number[] {
  const bytes = bytesOf(memory);
  const out: number[] = [];
  for (const [start, end] of ranges) for (let page = start; page < end; page++) if (!isZeroPage(bytes, page)) out.push(page);
  return out;
}

/** Copies the given pages of `memory` into an image of a memory growing to `byteLength`. */
export function captureImage(memory: WebAssembly.Memory, pages: readonly number[], byteLength: number): MemoryImage {
  const bytes = bytesOf(memory);
  const data = new Uint8Array(pages.length * PAGE_SIZE);
  pages.forEach((page, i) => data.set(bytes.subarray(page * PAGE_SIZE, (page + 1) * PAGE_SIZE), i * PAGE_SIZE));
  return { byteLength, pages: Uint32Array.from(pages), data };
}

/** The end of an image's highest page, in bytes: how large a memory must be to take it. */
export const imageEnd = (image: MemoryImage): number => image.pages.reduce((end, page) => Math.max(end, (page + 1) * PAGE_SIZE), 0);

/** Writes an image's pages into `memory` (grown to `imageEnd` already), and zeros `zeroPages` first. */
export function writeImage(memory: WebAssembly.Memory, image: MemoryImage, zeroPages: readonly number[] = []): void {
  const end = imageEnd(image);
  if (end > memory.buffer.byteLength) {
    throw new Error(`a memory image reaching byte ${end} does not fit a memory of ${memory.buffer.byteLength} bytes`);
  }
  const bytes = new Uint8Array(memory.buffer);
  for (const page of zeroPages) bytes.fill(0, page * PAGE_SIZE, (page + 1) * PAGE_SIZE);
  image.pages.forEach((page, i) => bytes.set(image.data.subarray(i * PAGE_SIZE, (i + 1) * PAGE_SIZE), page * PAGE_SIZE));
}

/** `target[i] ^= source[i]` over whole 32-bit words (both lengths are multiples of 4). */
export function xorInto(target: Uint8Array, source: Uint8Array): void {
  const t = new Uint32Array(target.buffer, target.byteOffset, target.byteLength / 4);
  const s = new Uint32Array(source.buffer, source.byteOffset, source.byteLength / 4);
  for (let i = 0; i < t.length; i++) t[i] ^= s[i];
}

/** Random access to an image's pages (absent pages are zero). */
export class ImageIndex {
  private readonly offsets: Int32Array;

  constructor(readonly image: MemoryImage) {
    this.offsets = new Int32Array(image.byteLength / PAGE_SIZE).fill(-1);
    image.pages.forEach((page, i) => (this.offsets[page] = i * PAGE_SIZE));
  }

  /** The image's bytes of `page`. */
  page(page: number): Uint8Array {
    const offset = this.offsets[page];
    return offset < 0 ? ZERO_PAGE : this.image.data.subarray(offset, offset + PAGE_SIZE);
  }

  /** Pages inside `ranges` where `memory` differs from the image. */
  differingPages(memory: WebAssembly.Memory, ranges: readonly [number, number][]): number[] {
    const bytes = bytesOf(memory);
    const out: number[] = [];
    for (const [start, end] of ranges) {
      for (let page = start; page < end; page++) {
        const offset = page * PAGE_SIZE;
        if (bytes.compare(this.page(page), 0, PAGE_SIZE, offset, offset + PAGE_SIZE) !== 0) out.push(page);
      }
    }
    return out;
  }

  /**
   * XORs each page of `delta` with the same page of this image, in place: turns a capture
   * into a delta against the image (mostly zeros: it compresses to a fraction) and back.
   */
  xor(delta: MemoryImage): void {
    delta.pages.forEach((page, i) => xorInto(delta.data.subarray(i * PAGE_SIZE, (i + 1) * PAGE_SIZE), this.page(page)));
  }

  /** Writes the image's content of `pages` back into `memory`. */
  restore(memory: WebAssembly.Memory, pages: readonly number[]): void {
    const bytes = new Uint8Array(memory.buffer);
    for (const page of pages) bytes.set(this.page(page), page * PAGE_SIZE);
  }
}
