/**
 * Loads QuickJS (quickjs-emscripten, sync release build) once per process and creates
 * instances of it: each sandbox gets its own WebAssembly instance and linear memory.
 *
 * Four wasm imports are replaced when an instance is created, so determinism does not depend
 * on JavaScript-level overrides that guest code could route around:
 * - the wall clock (`emscripten_date_now`) reads a per-instance {@link GuestClock}, so
 *   `Date.now()`, `new Date()` and `Date()` all return the activation's recorded time;
 * - `localtime` reports a zero UTC offset, so local-time methods behave as in UTC whatever
 *   the host's `TZ` is;
 * - the environment (`environ_sizes_get`, `environ_get`) is empty. The glue's would hand libc
 *   the host script's path (`_=`, from `process.argv[1]`) and, where the host has
 *   `navigator`, its locale; libc writes them into linear memory at boot, so every template
 *   image — and with it the sandbox build that snapshots are checked against — would depend
 *   on the folder the engine runs from.
 *
 * A fifth, the glue's `emscripten_resize_heap`, is wrapped: an instance's memory starts small
 * and the guest's allocator grows it up to the sandbox's maximum (see wasm-memory-import.ts).
 *
 * @module
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import variantImport from '@jitl/quickjs-wasmfile-release-sync';
import { QuickJSWASMModule, type QuickJSSyncVariant } from 'quickjs-emscripten-core';
import { PAGE_SIZE } from './memory-image.js';
import { detectLayout, type MemoryLayout } from './memory-layout.js';
import { withImportedMemoryMinimum } from './wasm-memory-import.js';

/** The time the guest sees, set by the host before each activation. */
export interface GuestClock {
  now: number;
}

export interface QuickJSInstance {
  module: QuickJSWASMModule;
  memory: WebAssembly.Memory;
  /**
   * Grows the memory to at least `bytes` as the guest's allocator does, so the glue's views
   * of the memory follow; false if that passes the memory's maximum.
   */
  growTo(bytes: number): boolean;
}

/** Sizes of an instance's memory, in wasm pages. */
export interface MemoryPages {
  initial: number;
  maximum: number;
}

type EmscriptenLoader = (options: Record<string, unknown>) => Promise<unknown>;
type FFIConstructor = new (module: unknown) => unknown;
type ImportFunction = (...args: number[]) => unknown;

// The package's types describe its CommonJS build, whose default export sits on `.default`.
const variant = ((variantImport as { default?: QuickJSSyncVariant }).default ?? variantImport) as QuickJSSyncVariant;
const require = createRequire(import.meta.url);
const VARIANT_PACKAGE = '@jitl/quickjs-wasmfile-release-sync';

/** Offsets of `tm_isdst` and `tm_gmtoff` in musl's `struct tm` on wasm32. */
const TM_ISDST = 32;
const TM_GMTOFF = 36;
/**
 * The probe allocates 5 MiB above its heap base (which sits near 5 MiB): the module's least
 * memory (16 MiB) has room. No more: its scans read every page, and reading a page nothing
 * wrote costs a page fault. (A build needing more fails its probe and is scanned whole.)
 */
const PROBE_PAGES = 256;
const WASM_PAGE = 64 * 1024;
/** Heap a new instance's memory holds above its stack before the guest's allocator grows it. */
const INITIAL_HEAP_BYTES = 1024 * 1024;

/**
 * Layouts measured on QuickJS builds, by the SHA-256 of their wasm file: a thread loading a
 * listed build skips the probe, whose scans read 16 MiB of memory, most of it never written
 * (each such page costs a page fault: 80–100 ms per thread start on an idle machine here, 200
 * ms and more while the other threads start). Any other build is probed; the tests check the
 * installed build's entry against a probe.
 */
export const MEASURED_LAYOUTS: Readonly<Record<string, MemoryLayout>> = {
  // @jitl/quickjs-wasmfile-release-sync 0.32.0
  '105c3bed22d457e43e3d1c3c1c6959fda62a8fe06f0fc8a985303c3a2be72232': { dataPages: 23, heapBasePage: 1301, sbrkAddress: 86864 },
};

export class QuickJSWasm {
  private constructor(
    private readonly compiled: WebAssembly.Module,
    private readonly loader: EmscriptenLoader,
    private readonly FFI: FFIConstructor,
    /** Identifies the QuickJS build: part of every snapshot's and template's identity. */
    readonly buildId: string,
    /** SHA-256 of the wasm file, hex. */
    readonly wasmSha256: string,
    /** The memory size the wasm file declares as its least, in wasm pages. */
    private readonly declaredPages: number,
    /** Where instances write (listed for the build, or measured at load); undefined means "scan everything". */
    public layout?: MemoryLayout,
  ) {}

  private static loading: Promise<QuickJSWasm> | undefined;

  /** The process-wide instance factory (the wasm is compiled once). */
  static load(): Promise<QuickJSWasm> {
    QuickJSWasm.loading ??= QuickJSWasm.compile();
    return QuickJSWasm.loading;
  }

  private static async compile(): Promise<QuickJSWasm> {
    const wasmPath = require.resolve(`${VARIANT_PACKAGE}/wasm`);
    const { version } = require(`${VARIANT_PACKAGE}/package.json`) as { version: string };
    const bytes = readFileSync(wasmPath);
    // Instances choose their initial memory size (`initialPages`), below the declared least.
    const { module, declaredPages } = withImportedMemoryMinimum(bytes, 0);
    const [compiled, loader, FFI] = await Promise.all([
      WebAssembly.compile(module),
      variant.importModuleLoader(),
      variant.importFFI(),
    ]);
    const sha256 = createHash('sha256').update(bytes).digest('hex');
    const wasm = new QuickJSWasm(compiled, loader as unknown as EmscriptenLoader, FFI as unknown as FFIConstructor, `${VARIANT_PACKAGE}@${version}`, sha256, declaredPages);
    wasm.layout = MEASURED_LAYOUTS[sha256] ?? (await wasm.probeLayout());
    return wasm;
  }

  /** Measures the memory layout on a throwaway instance (see memory-layout.ts). */
  async probeLayout(): Promise<MemoryLayout | undefined> {
    try {
      const { module, memory } = await this.newInstance({ initial: PROBE_PAGES, maximum: PROBE_PAGES }, { now: 0 });
      const runtime = module.newRuntime();
      const stackBytes = 64 * 1024;
      runtime.setMaxStackSize(stackBytes);
      const context = runtime.newContext();
      return detectLayout({
        memory,
        stackBytes,
        evaluate(code) {
          const result = context.evalCode(code);
          if (result.error) {
            result.error.dispose();
            throw new Error('layout probe failed');
          }
          result.value.dispose();
        },
      });
    } catch {
      return undefined;
    }
  }

  /**
   * Wasm pages a new instance's memory starts with, for a memory of at most `maximum` pages:
   * its static data, its stack and 1 MiB of heap where the layout is known (the guest's
   * allocator grows it as needed), else the least the wasm file declares.
   */
  initialPages(maximum: number): number {
    const pages = this.layout ? Math.ceil((this.layout.heapBasePage * PAGE_SIZE + INITIAL_HEAP_BYTES) / WASM_PAGE) : this.declaredPages;
    return Math.min(pages, maximum);
  }

  /** A fresh instance with a memory of `pages` and the given clock. */
  async newInstance(pages: MemoryPages, clock: GuestClock): Promise<QuickJSInstance> {
    const memory = new WebAssembly.Memory(pages);
    const compiled = this.compiled;
    let growTo!: (bytes: number) => boolean;
    const emscripten = await this.loader({
      wasmMemory: memory,
      instantiateWasm(imports: Record<string, Record<string, unknown>>, receive: (i: WebAssembly.Instance, m: WebAssembly.Module) => void) {
        growTo = interceptHostImports(imports, memory, pages.maximum, clock);
        const instance = new WebAssembly.Instance(compiled, imports as WebAssembly.Imports);
        receive(instance, compiled);
        return instance.exports;
      },
    });
    return { module: new QuickJSWASMModule(emscripten as never, new this.FFI(emscripten) as never), memory, growTo };
  }
}

/**
 * Replaces the clock, localtime and environment imports and wraps the memory growth import;
 * returns the wrapped growth. They are recognised by what they do (the glue is minified); if
 * this build's glue differs, refuse to run rather than leak the host's clock or environment.
 */
function interceptHostImports(imports: Record<string, Record<string, unknown>>, memory: WebAssembly.Memory, maximumPages: number, clock: GuestClock): (bytes: number) => boolean {
  const found = { clock: 0, localtime: 0, 'environment size': 0, environment: 0, 'memory growth': 0 };
  let growTo!: (bytes: number) => boolean;
  for (const env of Object.values(imports)) {
    for (const [name, value] of Object.entries(env)) {
      if (typeof value !== 'function') continue;
      const source = String(value);
      if (/^\(\)\s*=>\s*Date\.now\(\)$/.test(source)) {
        env[name] = () => clock.now;
        found.clock++;
      } else if (source.includes('getTimezoneOffset') && source.includes('getSeconds')) {
        const localtime = value as ImportFunction;
        env[name] = function utcLocaltime(time: number, tm: number) {
          localtime(time, tm);
          const heap = new Int32Array(memory.buffer);
          heap[(tm + TM_ISDST) >> 2] = 0;
          heap[(tm + TM_GMTOFF) >> 2] = 0;
        };
        found.localtime++;
      } else if (/=\s*\w+\(\);\s*\w+\[\w+\s*>>\s*2\]\s*=\s*\w+\.length/.test(source)) {
        // environ_sizes_get(count, bytes): no variables, no bytes.
        env[name] = function emptyEnvironmentSizes(countPointer: number, bytesPointer: number) {
          const heap = new Uint32Array(memory.buffer);
          heap[countPointer >> 2] = 0;
          heap[bytesPointer >> 2] = 0;
          return 0;
        };
        found['environment size']++;
      } else if (/for\s*\(\s*\w+\s+of\s+\w+\(\)\)/.test(source)) {
        // environ_get: nothing to write.
        env[name] = () => 0;
        found.environment++;
      } else if (/\.grow\(/.test(source)) {
        growTo = growingToTheMaximum(value as ImportFunction, memory, maximumPages);
        env[name] = growTo;
        found['memory growth']++;
      }
    }
  }
  // Exactly one each: a pattern that also matched another import would have replaced it too.
  const unmatched = Object.entries(found).find(([, matches]) => matches !== 1);
  if (unmatched) {
    const [what, matches] = unmatched;
    throw new Error(`unsupported QuickJS build: found ${matches} ${what} imports to intercept (expected exactly 1)`);
  }
  return growTo;
}

/**
 * The glue's `emscripten_resize_heap` (grow the memory to hold `bytes`, then refresh the
 * glue's views of it), able to reach the memory's maximum: the glue asks for up to 20% more
 * than it needs and gives up when that passes the maximum, though what it needs fits. While
 * the request fits, a growth past the maximum is cut to the maximum, so a sandbox can use as
 * much memory as when its memory had the maximum size from the start.
 */
function growingToTheMaximum(resize: ImportFunction, memory: WebAssembly.Memory, maximumPages: number): (bytes: number) => boolean {
  let requested = Infinity;
  const grow = memory.grow.bind(memory);
  memory.grow = (delta: number) => {
    const pages = memory.buffer.byteLength / WASM_PAGE;
    return grow(requested <= maximumPages * WASM_PAGE ? Math.min(delta, maximumPages - pages) : delta);
  };
  return (bytes: number) => {
    requested = bytes >>> 0;
    try {
      return Boolean(resize(bytes));
    } finally {
      requested = Infinity;
    }
  };
}
