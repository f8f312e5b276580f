/** Core modules of a component as the host prepares them: memories capped and exported, tables fixed, mutable globals exported for snapshots, names checked. */
import { parse } from '@bytecodealliance/jco';
import { describe, expect, it } from 'vitest';
import { CoreModuleError, GLOBAL_EXPORT_PREFIX, MEMORY_EXPORT_PREFIX, prepareCoreModule } from '../../sandbox/component/core-module.js';

const MiB = 2 ** 20;

async function instantiate(wat: string, maxBytes: number): Promise<WebAssembly.Instance> {
  return new WebAssembly.Instance(new WebAssembly.Module(prepareCoreModule(await parse(wat), maxBytes)), { env: { base: new WebAssembly.Global({ value: 'i32', mutable: false }, 7) } });
}

describe('prepareCoreModule', () => {
  it('caps a memory without a maximum: growing past the cap fails inside the guest', async () => {
    const instance = await instantiate('(module (memory (export "memory") 1) (func (export "grow") (param i32) (result i32) (memory.grow (local.get 0))))', 4 * MiB);
    const grow = instance.exports.grow as (pages: number) => number;
    expect(grow(63)).toBe(1);
    expect(grow(1)).toBe(-1);
    expect((instance.exports.memory as WebAssembly.Memory).buffer.byteLength).toBe(4 * MiB);
  });

  it('keeps a lower maximum the module declares', async () => {
    const instance = await instantiate('(module (memory (export "memory") 1 2) (func (export "grow") (param i32) (result i32) (memory.grow (local.get 0))))', 4 * MiB);
    expect((instance.exports.grow as (pages: number) => number)(2)).toBe(-1);
  });

  it('exports the memory it defines, exported or not, and keeps its tables at their size', async () => {
    const instance = await instantiate('(module (memory 1) (table 2 funcref) (func (export "growTable") (result i32) (table.grow (ref.null func) (i32.const 1))))', MiB);
    expect(instance.exports[`${MEMORY_EXPORT_PREFIX}0`]).toBeInstanceOf(WebAssembly.Memory);
    expect((instance.exports.growTable as () => number)()).toBe(-1);
  });

  it('exports every mutable global it defines (after the imported ones), and no constant', async () => {
    const instance = await instantiate(
      `(module
        (import "env" "base" (global i32))
        (global $a (mut i32) (i32.const 5))
        (global $b i64 (i64.const 9))
        (global $c (mut i64) (i64.const 3))
        (global $d (mut f64) (f64.const 1.5))
        (func (export "bump") (global.set $a (i32.add (global.get $a) (i32.const 1)))))`,
      MiB,
    );
    const globals = Object.keys(instance.exports).filter((name) => name.startsWith(GLOBAL_EXPORT_PREFIX));
    expect(globals).toEqual([`${GLOBAL_EXPORT_PREFIX}1`, `${GLOBAL_EXPORT_PREFIX}3`, `${GLOBAL_EXPORT_PREFIX}4`]);
    (instance.exports.bump as () => void)();
    expect((instance.exports[`${GLOBAL_EXPORT_PREFIX}1`] as WebAssembly.Global).value).toBe(6);
    expect((instance.exports[`${GLOBAL_EXPORT_PREFIX}3`] as WebAssembly.Global).value).toBe(3n);
  });

  it('refuses a memory that starts above the cap, and what a snapshot cannot hold', async () => {
    await expect(async () => prepareCoreModule(await parse('(module (memory 80))'), 4 * MiB)).rejects.toThrow(new CoreModuleError("a memory starts at 5 MiB, over the sandbox's memory cap of 4 MiB"));
    await expect(async () => prepareCoreModule(await parse('(module (global (mut externref) (ref.null extern)))'), MiB)).rejects.toThrow(/a mutable global of type externref cannot be saved in a snapshot/);
    expect(() => prepareCoreModule(new Uint8Array([1, 2, 3]), MiB)).toThrow(/not a core WebAssembly module/);
    await expect(async () => prepareCoreModule(await parse('(module (memory 1 2 shared))'), MiB)).rejects.toThrow(/a memory is shared, 64-bit or of a custom page size/);
  });

  it('refuses import and export names that are not plain identifiers (jco quotes them into JavaScript)', async () => {
    await expect(async () => prepareCoreModule(await parse(`(module (func (export "f'+(globalThis.x=1)+'")))`), MiB)).rejects.toThrow(/names an import or export "f'\+\(globalThis.x=1\)\+'": names may only use/);
    await expect(async () => prepareCoreModule(await parse('(module (import "a\\"b" "f" (func)))'), MiB)).rejects.toThrow(/names an import or export/);
    const plain = prepareCoreModule(await parse('(module (import "$root" "$imports" (func)) (func (export "aion:workflow/guest@0.1.0#activate")) (func (export "[resource-drop]x")))'), MiB);
    expect(WebAssembly.Module.exports(new WebAssembly.Module(plain)).map(({ name }) => name)).toEqual(['aion:workflow/guest@0.1.0#activate', '[resource-drop]x']);
    await expect(async () => prepareCoreModule(await parse(`(module (global (export "${MEMORY_EXPORT_PREFIX}0") i32 (i32.const 0)))`), MiB)).rejects.toThrow(`a core module uses the name '${MEMORY_EXPORT_PREFIX}0', which the host keeps for itself`);
  });
});
