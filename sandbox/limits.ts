/** Resource limits of one sandbox. Every guest entry runs under all three. */
export interface SandboxLimits {
  /** QuickJS heap limit in bytes; allocation past it is a guest `out of memory`. */
  memoryBytes: number;
  /** CPU time one activation (or query) may take before it is interrupted, in ms. */
  cpuMsPerActivation: number;
  /**
   * QuickJS stack limit in bytes. Deep guest recursion runs on the host's native stack too;
   * past about 64 KiB a deep enough recursion can exhaust Node's stack before QuickJS's own
   * check trips (measured; see docs/architecture.md), so larger values need `node --stack-size`.
   */
  stackBytes: number;
}

export const DEFAULT_LIMITS: SandboxLimits = {
  memoryBytes: 32 * 1024 * 1024,
  cpuMsPerActivation: 1000,
  stackBytes: 64 * 1024,
};

const WASM_PAGE = 64 * 1024;
/**
 * Linear memory below QuickJS's heap: static data and emscripten's 5 MiB shadow stack
 * (the heap starts near 5.1 MiB in this build), plus slack for allocator overhead.
 */
const RESERVED_BELOW_HEAP = 8 * 1024 * 1024;

/** The least heap limit: a memory of at least the 16 MiB the QuickJS module declares. */
export const MIN_MEMORY_BYTES = 256 * WASM_PAGE - RESERVED_BELOW_HEAP;

/**
 * The most wasm pages a sandbox's memory grows to. It starts smaller (what a sandbox uses,
 * `QuickJSWasm.initialPages`) and the guest's allocator grows it as the heap needs.
 */
export const wasmPagesFor = (limits: SandboxLimits): number =>
  Math.ceil((limits.memoryBytes + RESERVED_BELOW_HEAP) / WASM_PAGE);

/** The most bytes a sandbox's memory grows to: the address space its memory images index. */
export const wasmBytesFor = (limits: SandboxLimits): number => wasmPagesFor(limits) * WASM_PAGE;

export function validateLimits(limits: SandboxLimits): void {
  const check = (name: keyof SandboxLimits, min: number, max: number) => {
    const value = limits[name];
    if (!Number.isFinite(value) || value < min || value > max) {
      throw new RangeError(`sandbox limit ${name} must be a number between ${min} and ${max}, got ${value}`);
    }
  };
  check('memoryBytes', MIN_MEMORY_BYTES, 2 * 1024 * 1024 * 1024 - RESERVED_BELOW_HEAP);
  check('cpuMsPerActivation', 1, 600_000);
  check('stackBytes', 16 * 1024, 8 * 1024 * 1024);
}
