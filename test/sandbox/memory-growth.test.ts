/**
 * A sandbox's memory starts at what a sandbox uses and the guest's allocator grows it up to
 * the sandbox's maximum: the guest can allocate as much as when the memory had its maximum
 * size from the start, and whatever grew the memory — a query, a snapshot of a grown run, a
 * template with a large heap — is restored, reset and written over exactly as before.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { DEFAULT_LIMITS, QuickJSWasm, Sandbox, SandboxTemplate, type SandboxLimits } from '../../sandbox/index.js';
import { wasmBytesFor } from '../../sandbox/limits.js';
import { withImportedMemoryMinimum } from '../../sandbox/wasm-memory-import.js';

const MiB = 1024 * 1024;
const boot = async (limits: SandboxLimits = DEFAULT_LIMITS) => Sandbox.boot(await QuickJSWasm.load(), limits);
/** Guest code defining `read()`, which returns `globalThis.value` as a string. */
const READER = 'globalThis.read = () => String(globalThis.value)';

describe('a sandbox memory', () => {
  it('starts well below its maximum and grows as the guest allocates', async () => {
    const sandbox = await boot();
    const initial = sandbox.memory.buffer.byteLength;
    expect(initial).toBeLessThan(8 * MiB);
    sandbox.evalScript(`${READER}; globalThis.big = new Uint8Array(20 << 20).fill(3); globalThis.value = big[123] + big.length`, 'grow.js');
    expect(sandbox.call('read', '')).toBe(String(3 + (20 << 20)));
    expect(sandbox.memory.buffer.byteLength).toBeGreaterThan(20 * MiB);
    expect(sandbox.memory.buffer.byteLength).toBeLessThanOrEqual(wasmBytesFor(DEFAULT_LIMITS));
  });

  it('grows to exactly its maximum for a guest that allocates until it runs out, which then gets a catchable out-of-memory error', async () => {
    for (const memoryBytes of [DEFAULT_LIMITS.memoryBytes, 100 * MiB]) {
      const limits = { ...DEFAULT_LIMITS, memoryBytes };
      const sandbox = await boot(limits);
      sandbox.evalScript(
        `${READER}; const keep = []; try { for (;;) keep.push(new Uint8Array(256 * 1024)) } catch (e) { globalThis.value = String(e) } keep.length = 0`,
        'exhaust.js',
      );
      expect(sandbox.call('read', '')).toMatch(/out of memory/);
      // The glue asks for up to 20% more than it needs: growth near the maximum is cut to it.
      expect(sandbox.memory.buffer.byteLength).toBe(wasmBytesFor(limits));
    }
  });

  it('is put back after isolated guest work that grew it, and keeps working', async () => {
    const sandbox = await boot();
    sandbox.evalScript(`${READER}; globalThis.value = 1`, 'state.js');
    const before = sandbox.memory.buffer.byteLength;
    sandbox.isolated(() => sandbox.evalScript('globalThis.big = new Uint8Array(16 << 20).fill(9); globalThis.value = 2', 'query.js'));
    expect(sandbox.memory.buffer.byteLength).toBeGreaterThan(before);
    expect(sandbox.call('read', '')).toBe('1');
    sandbox.evalScript('globalThis.value = globalThis.big === undefined ? "clean" : "leaked"', 'check.js');
    expect(sandbox.call('read', '')).toBe('clean');
  });
});

describe('images of grown memories', () => {
  const setup = (sandbox: Sandbox) => sandbox.evalScript(`${READER}; globalThis.value = 'template'`, 'setup.js');

  it('a run that grew its memory is captured and restored into a fresh instance byte for byte', async () => {
    const template = await SandboxTemplate.create(await QuickJSWasm.load(), DEFAULT_LIMITS, setup);
    template.setPoolSize(0); // restore into a newly booted instance, still at its initial size
    const sandbox = await template.fork();
    sandbox.evalScript('globalThis.rows = Array.from({ length: 100000 }, (_, i) => "row " + i); globalThis.value = rows[99999] + " of " + rows.length', 'grow.js');
    expect(sandbox.memory.buffer.byteLength).toBeGreaterThan(8 * MiB);
    const delta = template.capture(sandbox);
    const restored = await template.restore(delta);
    const again = template.capture(restored);
    expect(Array.from(again.pages)).toEqual(Array.from(delta.pages));
    expect(Buffer.compare(Buffer.from(again.data), Buffer.from(delta.data))).toBe(0);
    expect(restored.call('read', '')).toBe('row 99999 of 100000');
  });

  it('a template whose setup grew the memory forks into a fresh instance', async () => {
    const template = await SandboxTemplate.create(await QuickJSWasm.load(), DEFAULT_LIMITS, (sandbox) => {
      setup(sandbox);
      sandbox.evalScript('globalThis.table = new Uint8Array(12 << 20).fill(5); globalThis.value = "sum " + (table[0] + table[table.length - 1])', 'large.js');
    });
    template.setPoolSize(0);
    const fork = await template.fork();
    expect(template.changedPages(fork)).toEqual([]);
    expect(fork.call('read', '')).toBe('sum 10');
  });
});

describe('the memory import of the QuickJS module', () => {
  const wasmFile = readFileSync(createRequire(import.meta.url).resolve('@jitl/quickjs-wasmfile-release-sync/wasm'));

  it('declares 16 MiB at least; rewritten, it links with a smaller memory, with the same imports and exports', async () => {
    const { module, declaredPages } = withImportedMemoryMinimum(wasmFile, 0);
    expect(declaredPages).toBe(256);
    const original = await WebAssembly.compile(wasmFile);
    const rewritten = await WebAssembly.compile(module);
    expect(WebAssembly.Module.imports(rewritten)).toEqual(WebAssembly.Module.imports(original));
    expect(WebAssembly.Module.exports(rewritten)).toEqual(WebAssembly.Module.exports(original));
    const small = () => {
      const imports: Record<string, Record<string, unknown>> = {};
      const memory = new WebAssembly.Memory({ initial: 100, maximum: 640 });
      for (const { module: name, name: field, kind } of WebAssembly.Module.imports(original)) (imports[name] ??= {})[field] = kind === 'memory' ? memory : () => 0;
      return imports as WebAssembly.Imports;
    };
    expect(() => new WebAssembly.Instance(original, small())).toThrow(WebAssembly.LinkError);
    expect(() => new WebAssembly.Instance(rewritten, small())).not.toThrow();
  });

  it('is required: a module importing no memory is refused', () => {
    const emptyModule = Uint8Array.from([0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00]);
    expect(() => withImportedMemoryMinimum(emptyModule, 0)).toThrow('the wasm module imports no memory');
  });
});
