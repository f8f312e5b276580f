/**
 * Where in a QuickJS instance's linear memory a sandbox can write, so that finding the pages
 * a run changed (to reset a sandbox to its template, or to take a snapshot) scans a few
 * hundred pages instead of the whole memory.
 *
 * emscripten lays memory out as [static data][shadow stack, growing down][heap, growing up
 * to the `sbrk` break]. Nothing above the break is ever written, and the shadow stack is
 * only used to a bounded depth below its top. The layout is a property of the wasm build:
 * known builds carry the layout measured beforehand (`MEASURED_LAYOUTS` in quickjs-wasm.ts);
 * any other is measured once per thread that runs sandboxes, on a probe instance (see
 * `detectLayout`), and if that fails every scan covers the whole memory instead: slower,
 * never wrong.
 *
 * @module
 */
import { isZeroPage, PAGE_SIZE } from './memory-image.js';

export interface MemoryLayout {
  /** Pages [0, dataPages) hold static data (including the break pointer). */
  dataPages: number;
  /** First page of the heap; the shadow stack's top is just below it. */
  heapBasePage: number;
  /** Byte address of the 32-bit word holding the `sbrk` break. */
  sbrkAddress: number;
}

/**
 * Pages scanned below the stack top: QuickJS's stack limit plus as much again for C frames
 * below its checks (measured: recursion to the 64 KiB limit touches 16 pages).
 */
export const stackWindowPages = (stackBytes: number): number => Math.ceil((2 * stackBytes) / PAGE_SIZE) + 1;

/** Page ranges `[start, end)` a sandbox may have written since it was booted. */
export function writableRanges(layout: MemoryLayout | undefined, memory: WebAssembly.Memory, stackBytes: number): [number, number][] {
  const pageCount = memory.buffer.byteLength / PAGE_SIZE;
  if (!layout) return [[0, pageCount]];
  const heapTop = new Uint32Array(memory.buffer)[layout.sbrkAddress >> 2];
  const heapEnd = Math.min(pageCount, Math.ceil(heapTop / PAGE_SIZE) + 1);
  const stackStart = Math.max(layout.dataPages, layout.heapBasePage - stackWindowPages(stackBytes));
  return [
    [0, layout.dataPages],
    [stackStart, Math.max(stackStart, heapEnd)],
  ];
}

/**
 * Bytes of memory a sandbox actually uses (static data, its stack window and its heap up to
 * the break): what it costs resident. Without a layout, the whole memory.
 */
export function usedBytes(layout: MemoryLayout | undefined, memory: WebAssembly.Memory, stackBytes: number): number {
  if (!layout) return memory.buffer.byteLength;
  const heapTop = new Uint32Array(memory.buffer)[layout.sbrkAddress >> 2];
  return layout.dataPages * PAGE_SIZE + stackWindowPages(stackBytes) * PAGE_SIZE + Math.max(0, heapTop - layout.heapBasePage * PAGE_SIZE);
}

export interface ProbeInstance {
  memory: WebAssembly.Memory;
  /** The probe runtime's QuickJS stack limit. */
  stackBytes: number;
  /** Evaluates guest code (the probe allocates and recurses to reveal the layout). */
  evaluate(code: string): void;
}

const PROBE_ALLOCATION = 4 * 1024 * 1024;

/**
 * Measures the layout on a freshly booted probe: the first heap page is the first non-zero
 * page after the static data; the break pointer is the word of static data that grows by the
 * probe's allocation and stays at or above the highest written page — the highest such word
 * (the allocator's top-chunk pointer sits just below it), confirmed by a second allocation.
 * Returns undefined if the measurements are not conclusive. It copies only the static data and
 * the pages the recursion must leave alone, not the whole memory: every sandbox thread of a
 * build without a measured layout probes once as it starts.
 */
export function detectLayout(probe: ProbeInstance): MemoryLayout | undefined {
  const bytes = () => Buffer.from(probe.memory.buffer);
  /** The end (in bytes) of the highest page that is not zero. */
  const writtenEnd = () => {
    const memory = bytes();
    let page = memory.length / PAGE_SIZE - 1;
    while (page >= 0 && isZeroPage(memory, page)) page--;
    return (page + 1) * PAGE_SIZE;
  };
  const pageCount = probe.memory.buffer.byteLength / PAGE_SIZE;
  // Static data is the first run of non-zero pages; the heap starts at the next non-zero page.
  const booted = bytes();
  let dataPages = 0;
  while (dataPages < pageCount && !isZeroPage(booted, dataPages)) dataPages++;
  let heapBasePage = dataPages;
  while (heapBasePage < pageCount && isZeroPage(booted, heapBasePage)) heapBasePage++;
  if (dataPages === 0 || heapBasePage === pageCount) return undefined;

  const staticWords = () => new Uint32Array(probe.memory.buffer.slice(0, dataPages * PAGE_SIZE));
  const wordsBefore = staticWords();
  const endBefore = writtenEnd();
  probe.evaluate(`globalThis.__probe = new Uint8Array(${PROBE_ALLOCATION}); __probe[${PROBE_ALLOCATION - 1}] = 1;`);
  const wordsAfter = staticWords();
  const endAfter = writtenEnd();
  const candidates: number[] = [];
  for (let i = 0; i < wordsBefore.length; i++) {
    const grown = wordsAfter[i] - wordsBefore[i];
    if (grown < PROBE_ALLOCATION || grown > PROBE_ALLOCATION + 1024 * 1024) continue;
    if (wordsBefore[i] >= endBefore - PAGE_SIZE && wordsAfter[i] >= endAfter - PAGE_SIZE) candidates.push(i * 4);
  }
  if (candidates.length === 0) return undefined;
  const sbrkAddress = candidates.reduce((best, address) => (wordsAfter[address >> 2] > wordsAfter[best >> 2] ? address : best));
  const layout: MemoryLayout = { dataPages, heapBasePage, sbrkAddress };
  const breakBefore = new Uint32Array(probe.memory.buffer)[sbrkAddress >> 2];
  probe.evaluate(`globalThis.__probe2 = new Uint8Array(${PROBE_ALLOCATION / 4}); __probe2[${PROBE_ALLOCATION / 4 - 1}] = 1;`);
  const breakAfter = new Uint32Array(probe.memory.buffer)[sbrkAddress >> 2];
  if (breakAfter - breakBefore < PROBE_ALLOCATION / 4 || breakAfter < writtenEnd() - PAGE_SIZE) return undefined;

  // The stack must sit just below the heap: deep recursion changes pages only there.
  const outsideStackWindow = [dataPages * PAGE_SIZE, Math.max(dataPages, heapBasePage - stackWindowPages(probe.stackBytes)) * PAGE_SIZE] as const;
  const beforeRecursion = Buffer.from(bytes().subarray(...outsideStackWindow)); // a copy (a Buffer's slice() would be a view)
  probe.evaluate('(function r(n) { return n === 0 ? 0 : r(n - 1) + 1; })(100)');
  return beforeRecursion.equals(bytes().subarray(...outsideStackWindow)) ? layout : undefined;
}
