/**
 * The memory layout of a QuickJS build (measured beforehand for the installed one, else by each
 * sandbox thread once as it starts): where static data ends,
 * where the heap starts and which word holds the heap's break. Resets and snapshots scan only
 * what it says a guest can write, so a wrong layout would leave a guest's writes behind.
 */
import { describe, expect, it } from 'vitest';
import { detectLayout, writableRanges, type ProbeInstance } from '../../sandbox/memory-layout.js';
import { PAGE_SIZE } from '../../sandbox/memory-image.js';
import { QuickJSWasm } from '../../sandbox/index.js';
import { MEASURED_LAYOUTS } from '../../sandbox/quickjs-wasm.js';

const STACK_BYTES = 64 * 1024;
/** wasm pages (64 KiB) of the probe: room for its 4 MiB and 1 MiB allocations above the heap base. */
const PROBE_PAGES = 384;

/** A freshly booted instance to probe; `afterEvaluate` may tamper with its memory after each evaluation. */
async function probeInstance(afterEvaluate: (code: string, memory: WebAssembly.Memory) => void = () => undefined): Promise<ProbeInstance> {
  const wasm = await QuickJSWasm.load();
  const { module, memory } = await wasm.newInstance({ initial: PROBE_PAGES, maximum: PROBE_PAGES }, { now: 0 });
  const runtime = module.newRuntime();
  runtime.setMaxStackSize(STACK_BYTES);
  const context = runtime.newContext();
  return {
    memory,
    stackBytes: STACK_BYTES,
    evaluate(code) {
      context.unwrapResult(context.evalCode(code)).dispose();
      afterEvaluate(code, memory);
    },
  };
}

const highestWrittenPage = (memory: WebAssembly.Memory): number => {
  const bytes = new Uint8Array(memory.buffer);
  for (let page = bytes.length / PAGE_SIZE - 1; page >= 0; page--) {
    if (bytes.subarray(page * PAGE_SIZE, (page + 1) * PAGE_SIZE).some((byte) => byte !== 0)) return page;
  }
  return -1;
};

describe('the memory layout of a QuickJS instance', () => {
  it('is found on a booted instance, and what it says is writable covers what a guest writes', async () => {
    const probe = await probeInstance();
    const layout = detectLayout(probe);
    expect(layout).toBeDefined();
    expect(layout!.dataPages).toBeGreaterThan(0);
    expect(layout!.heapBasePage).toBeGreaterThan(layout!.dataPages);
    expect(layout!.sbrkAddress).toBeLessThan(layout!.dataPages * PAGE_SIZE);
    // The probe left its allocations in place: the heap's range reaches the highest page written.
    probe.evaluate('globalThis.more = new Uint8Array(512 * 1024); more[more.length - 1] = 7;');
    const heapRange = writableRanges(layout, probe.memory, STACK_BYTES).at(-1)!;
    expect(heapRange[1]).toBeGreaterThan(highestWrittenPage(probe.memory));
    expect(heapRange[0]).toBeLessThan(layout!.heapBasePage);
  });

  it('of the installed QuickJS build was measured beforehand, as a probe finds it (a new build needs its entry in MEASURED_LAYOUTS)', async () => {
    const wasm = await QuickJSWasm.load();
    const measured = MEASURED_LAYOUTS[wasm.wasmSha256];
    expect(measured, `no measured layout for the QuickJS wasm of SHA-256 ${wasm.wasmSha256}`).toBeDefined();
    expect(await wasm.probeLayout()).toEqual(measured);
    expect(wasm.layout).toEqual(measured);
  });

  it('is not trusted when a recursion changes memory outside the stack window', async () => {
    const { dataPages } = detectLayout(await probeInstance())!;
    const probe = await probeInstance((code, memory) => {
      // As if the stack sat elsewhere: the recursion leaves a page between static data and the stack window changed.
      if (code.includes('function r(')) new Uint8Array(memory.buffer)[(dataPages + 1) * PAGE_SIZE] ^= 1;
    });
    expect(detectLayout(probe)).toBeUndefined();
  });

  it('is not trusted when no word of static data grows with the allocations', async () => {
    const { dataPages } = detectLayout(await probeInstance())!;
    const booted: { staticData?: Uint8Array } = {};
    const probe = await probeInstance((code, memory) => {
      // Static data put back as it was before the first allocation, the break pointer included.
      if (code.includes('__probe =')) new Uint8Array(memory.buffer).set(booted.staticData!);
    });
    booted.staticData = new Uint8Array(probe.memory.buffer).slice(0, dataPages * PAGE_SIZE);
    expect(detectLayout(probe)).toBeUndefined();
  });
});
