/**
 * Prepares the core WebAssembly modules of a component before they are instantiated, so that
 * the host holds the whole state of an instance and bounds it:
 *
 * - every memory the module defines gets a maximum (the sandbox's memory cap), so a guest
 *   that allocates past it sees `memory.grow` fail instead of growing the host; every table
 *   it defines keeps its initial size;
 * - every memory and every mutable global the module defines is exported (as
 *   `aion:memory:<index>`, `aion:global:<index>`): they are an instance's state, which
 *   templates and snapshots copy. A compiler's stack pointer, an allocator's state and a
 *   workflow's own variables live in them;
 * - every import and export name must be a plain identifier: jco writes these names into the
 *   JavaScript glue the host runs, so a name with quotes or backslashes could be code.
 *
 * Only the section headers, imports, tables, memories, globals and exports are read; the rest
 * of the module is copied as it is.
 *
 * @module
 */

/** A core module the host cannot run under its guarantees. */
export class CoreModuleError extends Error {
  override name = 'CoreModuleError';
}

/** The export names the host gives a module's memories and mutable globals. */
export const MEMORY_EXPORT_PREFIX = 'aion:memory:';
export const GLOBAL_EXPORT_PREFIX = 'aion:global:';

/** What core import and export names may be made of (those component toolchains write: `aion:workflow/guest@0.1.0#activate`, `$imports`, `[resource-drop]x`). */
const SAFE_NAME = /^[A-Za-z0-9_\-:/@.#$[\]]*$/;
const WASM_PAGE_BYTES = 64 * 1024;
const SECTION = { import: 2, table: 4, memory: 5, global: 6, export: 7 } as const;
/** Sections that come after the export section (start, element, data count, code, data). */
const AFTER_EXPORTS = new Set([8, 9, 12, 10, 11]);
const VALUE_TYPES: Record<number, string> = { 0x7f: 'i32', 0x7e: 'i64', 0x7d: 'f32', 0x7c: 'f64', 0x7b: 'v128', 0x70: 'funcref', 0x6f: 'externref' };
const SNAPSHOT_TYPES = new Set(['i32', 'i64', 'f32', 'f64']);
const EXPORT_KIND = { memory: 2, global: 3 } as const;
const IMPORT_KIND = { function: 0, table: 1, memory: 2, global: 3, tag: 4 } as const;

class Reader {
  offset = 0;
  constructor(readonly bytes: Uint8Array) {}

  byte(): number {
    if (this.offset >= this.bytes.length) throw new CoreModuleError('the module ends in the middle of a section');
    return this.bytes[this.offset++];
  }

  /** An unsigned LEB128 of at most 32 bits. */
  u32(): number {
    let result = 0;
    for (let shift = 0; shift < 35; shift += 7) {
      const byte = this.byte();
      result += (byte & 0x7f) * 2 ** shift;
      if ((byte & 0x80) === 0) {
        if (result > 0xffffffff) throw new CoreModuleError('an integer in the module is out of range');
        return result;
      }
    }
    throw new CoreModuleError('an integer in the module is too long');
  }

  /** Skips a signed LEB128 (constants in initialiser expressions). */
  skipLeb(): void {
    while (this.byte() & 0x80);
  }

  skip(count: number): void {
    this.offset += count;
  }

  /** A name, which must be a plain identifier (see `SAFE_NAME`). */
  name(): string {
    const length = this.u32();
    const text = Buffer.from(this.bytes.subarray(this.offset, this.offset + length)).toString('utf8');
    this.offset += length;
    if (!SAFE_NAME.test(text)) throw new CoreModuleError(`a core module names an import or export ${JSON.stringify(text.slice(0, 80))}: names may only use letters, digits and _-:/@.#$[]`);
    if (text.startsWith(MEMORY_EXPORT_PREFIX) || text.startsWith(GLOBAL_EXPORT_PREFIX)) throw new CoreModuleError(`a core module uses the name '${text}', which the host keeps for itself`);
    return text;
  }

  /** Checks a section was read to its end. */
  end(section: Section): void {
    if (this.offset !== section.end) throw new CoreModuleError(`section ${section.id} does not end where its size says`);
  }
}

const leb = (value: number): number[] => {
  const out: number[] = [];
  do {
    let byte = value & 0x7f;
    value = Math.floor(value / 128);
    if (value !== 0) byte |= 0x80;
    out.push(byte);
  } while (value !== 0);
  return out;
};

const encodedName = (name: string): number[] => {
  const bytes = [...Buffer.from(name, 'utf8')];
  return [...leb(bytes.length), ...bytes];
};

interface Section {
  id: number;
  /** Where the section starts (its id byte) and ends in the module. */
  start: number;
  end: number;
  /** Where its contents start. */
  body: number;
}

function sectionsOf(bytes: Uint8Array): Section[] {
  if (bytes.length < 8 || bytes[0] !== 0 || bytes[1] !== 0x61 || bytes[2] !== 0x73 || bytes[3] !== 0x6d || bytes[4] !== 1) {
    throw new CoreModuleError('not a core WebAssembly module');
  }
  const reader = new Reader(bytes);
  reader.offset = 8;
  const sections: Section[] = [];
  while (reader.offset < bytes.length) {
    const start = reader.offset;
    const id = reader.byte();
    const size = reader.u32();
    const body = reader.offset;
    reader.skip(size);
    if (reader.offset > bytes.length) throw new CoreModuleError('a section runs past the end of the module');
    sections.push({ id, start, end: reader.offset, body });
  }
  return sections;
}

const readerAt = (bytes: Uint8Array, section: Section): Reader => {
  const reader = new Reader(bytes);
  reader.offset = section.body;
  return reader;
};

/** Skips a value type, returning its name. */
function valueType(reader: Reader): string {
  const code = reader.byte();
  // (ref null? heaptype): a typed reference of the GC proposal.
  if (code === 0x63 || code === 0x64) {
    reader.skipLeb();
    return 'ref';
  }
  return VALUE_TYPES[code] ?? `type 0x${code.toString(16)}`;
}

/** Reads limits of a memory or table (plain 32-bit ones only). */
function limits(reader: Reader, what: string): { min: number; max: number } {
  const flags = reader.byte();
  if (flags > 1) throw new CoreModuleError(`a ${what} is shared, 64-bit or of a custom page size, which the host does not run`);
  const min = reader.u32();
  return { min, max: flags === 1 ? reader.u32() : Infinity };
}

/** Skips a constant initialiser expression up to and including its `end`. */
function skipConstantExpression(reader: Reader): void {
  for (;;) {
    const opcode = reader.byte();
    if (opcode === 0x0b) return;
    if (opcode === 0x41 || opcode === 0x42 || opcode === 0x23 || opcode === 0xd2 || opcode === 0xd0) reader.skipLeb();
    else if (opcode === 0x43) reader.skip(4);
    else if (opcode === 0x44) reader.skip(8);
    else if (opcode === 0xfd && reader.u32() === 12) reader.skip(16);
    else if (![0x6a, 0x6b, 0x6c, 0x7c, 0x7d, 0x7e].includes(opcode)) throw new CoreModuleError(`unsupported instruction 0x${opcode.toString(16)} in a global's initialiser`);
  }
}

/** Counts the memories and globals a module imports (they come first in their index spaces), checking every import's names. */
function imported(bytes: Uint8Array, section: Section | undefined): { memories: number; globals: number } {
  const counts = { memories: 0, globals: 0 };
  if (!section) return counts;
  const reader = readerAt(bytes, section);
  for (let count = reader.u32(); count > 0; count--) {
    reader.name();
    reader.name();
    const kind = reader.byte();
    if (kind === IMPORT_KIND.function) reader.u32();
    else if (kind === IMPORT_KIND.table) {
      valueType(reader);
      limits(reader, 'table');
    } else if (kind === IMPORT_KIND.memory) {
      limits(reader, 'memory');
      counts.memories++;
    } else if (kind === IMPORT_KIND.global) {
      valueType(reader);
      reader.byte();
      counts.globals++;
    } else if (kind === IMPORT_KIND.tag) {
      reader.byte();
      reader.u32();
    } else throw new CoreModuleError(`unknown import kind ${kind}`);
  }
  reader.end(section);
  return counts;
}

/** The memory section rewritten with every memory bounded by `maxPages`; and how many it defines. */
function boundedMemories(bytes: Uint8Array, section: Section, maxPages: number): { body: number[]; count: number } {
  const reader = readerAt(bytes, section);
  const count = reader.u32();
  const body = leb(count);
  for (let i = 0; i < count; i++) {
    const { min, max } = limits(reader, 'memory');
    if (min > maxPages) {
      throw new CoreModuleError(`a memory starts at ${(min * WASM_PAGE_BYTES) / 2 ** 20} MiB, over the sandbox's memory cap of ${(maxPages * WASM_PAGE_BYTES) / 2 ** 20} MiB`);
    }
    body.push(1, ...leb(min), ...leb(Math.min(max, maxPages)));
  }
  reader.end(section);
  return { body, count };
}

/** The table section rewritten with every table's maximum at its initial size (table contents are not part of a snapshot). */
function fixedTables(bytes: Uint8Array, section: Section): number[] {
  const reader = readerAt(bytes, section);
  const count = reader.u32();
  const body = leb(count);
  for (let i = 0; i < count; i++) {
    const typeStart = reader.offset;
    valueType(reader);
    const type = bytes.subarray(typeStart, reader.offset);
    const { min } = limits(reader, 'table');
    body.push(...type, 1, ...leb(min), ...leb(min));
  }
  reader.end(section);
  return body;
}

/** Indexes (in the global index space) of the mutable globals the module defines. */
function mutableGlobals(bytes: Uint8Array, section: Section | undefined, firstIndex: number): number[] {
  if (!section) return [];
  const reader = readerAt(bytes, section);
  const out: number[] = [];
  const count = reader.u32();
  for (let i = 0; i < count; i++) {
    const type = valueType(reader);
    const mutable = reader.byte() === 1;
    skipConstantExpression(reader);
    if (!mutable) continue;
    if (!SNAPSHOT_TYPES.has(type)) throw new CoreModuleError(`a mutable global of type ${type} cannot be saved in a snapshot`);
    out.push(firstIndex + i);
  }
  reader.end(section);
  return out;
}

/** The export section with `added` exports appended (its own export names checked). */
function exportsWith(bytes: Uint8Array, section: Section | undefined, added: { name: string; kind: number; index: number }[]): number[] {
  const entries = added.flatMap(({ name, kind, index }) => [...encodedName(name), kind, ...leb(index)]);
  if (!section) return [...leb(added.length), ...entries];
  const reader = readerAt(bytes, section);
  const count = reader.u32();
  const first = reader.offset;
  for (let i = 0; i < count; i++) {
    reader.name();
    reader.byte();
    reader.u32();
  }
  reader.end(section);
  return [...leb(count + added.length), ...bytes.subarray(first, section.end), ...entries];
}

const sectionBytes = (id: number, body: number[]): number[] => [id, ...leb(body.length), ...body];

/** The module with its memories bounded by `maxBytes`, its tables fixed, and its memories and mutable globals exported. */
export function prepareCoreModule(bytes: Uint8Array, maxBytes: number): Uint8Array<ArrayBuffer> {
  const sections = sectionsOf(bytes);
  const find = (id: number): Section | undefined => sections.find((section) => section.id === id);
  const counts = imported(bytes, find(SECTION.import));
  const memory = find(SECTION.memory);
  const table = find(SECTION.table);
  const exports = find(SECTION.export);
  const bounded = memory ? boundedMemories(bytes, memory, Math.floor(maxBytes / WASM_PAGE_BYTES)) : { body: [], count: 0 };
  const added = [
    ...Array.from({ length: bounded.count }, (_, i) => ({ name: `${MEMORY_EXPORT_PREFIX}${counts.memories + i}`, kind: EXPORT_KIND.memory, index: counts.memories + i })),
    ...mutableGlobals(bytes, find(SECTION.global), counts.globals).map((index) => ({ name: `${GLOBAL_EXPORT_PREFIX}${index}`, kind: EXPORT_KIND.global, index })),
  ];
  const replaced = new Map<Section, number[]>();
  if (memory) replaced.set(memory, sectionBytes(SECTION.memory, bounded.body));
  if (table) replaced.set(table, sectionBytes(SECTION.table, fixedTables(bytes, table)));
  if (exports) replaced.set(exports, sectionBytes(SECTION.export, exportsWith(bytes, exports, added)));

  const parts: Uint8Array[] = [bytes.subarray(0, 8)];
  let exportsWritten = exports !== undefined || added.length === 0;
  const writeExports = () => {
    parts.push(Uint8Array.from(sectionBytes(SECTION.export, exportsWith(bytes, undefined, added))));
    exportsWritten = true;
  };
  for (const section of sections) {
    if (!exportsWritten && AFTER_EXPORTS.has(section.id)) writeExports();
    const replacement = replaced.get(section);
    parts.push(replacement ? Uint8Array.from(replacement) : bytes.subarray(section.start, section.end));
  }
  if (!exportsWritten) writeExports();
  return Buffer.concat(parts);
}
