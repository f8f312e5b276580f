/**
 * Value codec of the key-value stores. Every value carries its own CRC-32, so a damaged
 * record is detected when it is read, wherever it sits (LevelDB checks its own block
 * checksums only when asked to, and classic-level does not ask).
 *
 * Layout: `0xC1 · format · crc32(body) (4 bytes, big-endian) · body`, where the format is
 * - `J`: the body is JSON text (UTF-8). Everything the engine stores is JSON-shaped, and JSON
 *   round-trips it exactly: a `"__proto__"` key stays an own property, lone surrogates stay
 *   escaped, deep nesting is read without recursion. (msgpackr renames `__proto__` and
 *   replaces lone surrogates, so payloads did not survive a reopen byte for byte.)
 * - `M`: the body is msgpack, for the one record with binary fields (snapshots).
 *
 * 0xC1 is the one byte msgpack never uses, so values written before this layout (bare
 * msgpack, no checksum) are still recognised and read.
 *
 * @module
 */
import { crc32 } from 'node:zlib';
import { Packr } from 'msgpackr';
import { StoreError } from './errors.js';

const MARKER = 0xc1;
const JSON_FORMAT = 0x4a; // 'J'
const MSGPACK_FORMAT = 0x4d; // 'M'
const HEADER_BYTES = 6;

/** Records (shared structures) are off: a value must decode on its own after a crash. */
const packr = new Packr({ useRecords: false, mapsAsObjects: true });

/** Encodes a JSON-shaped value. A value JSON cannot carry is an `AION_STORE_INVALID_VALUE`. */
export function encodeValue(value: unknown): Uint8Array {
  let text: string | undefined;
  try {
    text = JSON.stringify(value);
  } catch (error) {
    throw new StoreError('AION_STORE_INVALID_VALUE', `a value cannot be stored: ${(error as Error).message}`, { cause: error });
  }
  if (text === undefined) throw new StoreError('AION_STORE_INVALID_VALUE', 'a value cannot be stored: it is not JSON (undefined or a function)');
  return frame(JSON_FORMAT, Buffer.from(text, 'utf8'));
}

/** Encodes a value with binary fields (`Uint8Array`s): snapshots. */
export function encodeBinaryValue(value: unknown): Uint8Array {
  return frame(MSGPACK_FORMAT, packr.pack(value));
}

/**
 * Decodes a value; `describeKey` names the record when it is damaged (a checksum mismatch, a
 * truncated or unreadable value): `AION_STORE_CORRUPT`.
 */
export function decodeValue<T>(bytes: Uint8Array, describeKey: () => string): T {
  try {
    if (bytes[0] !== MARKER) return packr.unpack(bytes) as T; // written before checksums
    if (bytes.length < HEADER_BYTES) throw new Error('the value is truncated');
    const body = bytes.subarray(HEADER_BYTES);
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    if (crc32(body) !== view.getUint32(2)) throw new Error('its checksum does not match');
    if (bytes[1] === JSON_FORMAT) return JSON.parse(Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString('utf8')) as T;
    if (bytes[1] === MSGPACK_FORMAT) return packr.unpack(body) as T;
    throw new Error(`unknown value format ${bytes[1]}`);
  } catch (error) {
    throw new StoreError('AION_STORE_CORRUPT', `the record ${describeKey()} is damaged: ${(error as Error).message}`, { cause: error });
  }
}

function frame(format: number, body: Uint8Array): Uint8Array {
  const out = Buffer.allocUnsafe(HEADER_BYTES + body.length);
  out[0] = MARKER;
  out[1] = format;
  out.writeUInt32BE(crc32(body), 2);
  out.set(body, HEADER_BYTES);
  return out;
}
