/**
 * Rewrites the minimum size a wasm module declares for the memory it imports.
 *
 * The QuickJS build declares 256 pages (16 MiB) and an instance's memory must be at least
 * that large, though a sandbox uses well under 1 MiB above its static data and stack. V8
 * counts every memory's size as external memory and collects garbage as it grows, so
 * instances created at 16 MiB (or at their whole limit) each cost a collection; created at
 * what they use, and grown by the guest's allocator as it needs (the build supports growth),
 * they cost a fraction of that. The declared minimum is only an instantiation check: the
 * compiled code is the same.
 *
 * @module
 */

const IMPORT_SECTION = 2;
const MEMORY_KIND = 2;
const TABLE_KIND = 1;
const FUNCTION_KIND = 0;
const GLOBAL_KIND = 3;
const HAS_MAXIMUM = 0x01;

interface Cursor {
  bytes: Uint8Array;
  at: number;
}

function readU32(cursor: Cursor): number {
  let result = 0;
  let shift = 0;
  for (;;) {
    if (cursor.at >= cursor.bytes.length) throw new Error('truncated wasm module');
    const byte = cursor.bytes[cursor.at++];
    result += (byte & 0x7f) * 2 ** shift;
    if (!(byte & 0x80)) return result;
    shift += 7;
    if (shift > 28) throw new Error('malformed LEB128 number in wasm module');
  }
}

function encodeU32(value: number): number[] {
  const out: number[] = [];
  do {
    let byte = value & 0x7f;
    value = Math.floor(value / 128);
    if (value) byte |= 0x80;
    out.push(byte);
  } while (value);
  return out;
}

function skipName(cursor: Cursor): void {
  const length = readU32(cursor);
  cursor.at += length;
}

/** Reads a limits field (flags, minimum, optional maximum): the minimum and where it is. */
function readLimits(cursor: Cursor): { minimum: number; minimumAt: number; minimumEnd: number } {
  const flags = cursor.bytes[cursor.at++];
  const minimumAt = cursor.at;
  const minimum = readU32(cursor);
  const minimumEnd = cursor.at;
  if (flags & HAS_MAXIMUM) readU32(cursor);
  return { minimum, minimumAt, minimumEnd };
}

/**
 * The module with its imported memory's declared minimum set to `pages`, and the minimum it
 * declared. Throws if the module imports no memory.
 */
export function withImportedMemoryMinimum(module: Uint8Array, pages: number): { module: Uint8Array<ArrayBuffer>; declaredPages: number } {
  const cursor: Cursor = { bytes: module, at: 8 };
  while (cursor.at < module.length) {
    const sectionStart = cursor.at;
    const id = module[cursor.at++];
    const size = readU32(cursor);
    const bodyStart = cursor.at;
    const bodyEnd = bodyStart + size;
    if (id !== IMPORT_SECTION) {
      cursor.at = bodyEnd;
      continue;
    }
    const count = readU32(cursor);
    for (let i = 0; i < count; i++) {
      skipName(cursor);
      skipName(cursor);
      const kind = module[cursor.at++];
      if (kind === MEMORY_KIND) {
        const limits = readLimits(cursor);
        const body = Buffer.concat([module.subarray(bodyStart, limits.minimumAt), Buffer.from(encodeU32(pages)), module.subarray(limits.minimumEnd, bodyEnd)]);
        const header = Buffer.from([IMPORT_SECTION, ...encodeU32(body.length)]);
        return { module: Buffer.concat([module.subarray(0, sectionStart), header, body, module.subarray(bodyEnd)]), declaredPages: limits.minimum };
      }
      if (kind === FUNCTION_KIND) readU32(cursor);
      else if (kind === TABLE_KIND) {
        cursor.at++; // element type
        readLimits(cursor);
      } else if (kind === GLOBAL_KIND) cursor.at += 2; // value type, mutability
      else throw new Error(`unsupported import kind ${kind} in wasm module`);
    }
    break;
  }
  throw new Error('the wasm module imports no memory');
}
