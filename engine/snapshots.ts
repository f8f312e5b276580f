/**
 * Snapshot encoding: a sandbox's delta against its template (pages XOR-ed with the
 * template's: mostly zeros), compressed with raw deflate at level 1 — on such data as small as
 * brotli within 15% and several times faster to inflate, which is what a wake waits for —
 * with a CRC-32 of the uncompressed bytes (against corruption, not tampering: the
 * store is trusted; what is restored still only ever reaches the sandbox). Decoding refuses anything that does not
 * match exactly — another bundle version, another sandbox build, a history position beyond
 * the history, a corrupted or truncated record — and the caller replays instead.
 *
 * Compressing and decoding run in sandbox threads; the engine thread only stores the bytes.
 *
 * @module
 */
import { crc32, deflateRawSync, inflateRawSync } from 'node:zlib';
import { PAGE_SIZE, type MemoryImage } from '../sandbox/index.js';
import type { RunRecord, SnapshotRecord } from '../store/types.js';
import type { CapturedImage, SnapshotData } from './sandboxes/messages.js';

const checksumOf = (pages: Uint8Array, data: Uint8Array): string => crc32(data, crc32(pages)).toString(16);

/** Compresses a captured delta (in the thread that captured it). */
export function compressImage(image: MemoryImage): CapturedImage {
  const pages = new Uint8Array(image.pages.buffer, image.pages.byteOffset, image.pages.byteLength).slice();
  return { pages, data: deflateRawSync(image.data, { level: 1 }), checksum: checksumOf(pages, image.data) };
}

/** The record that stores a run's captured image as of history position `eventId`. */
export function snapshotRecord(run: RunRecord, eventId: number, build: string, image: CapturedImage): SnapshotRecord {
  return { namespace: run.namespace, runId: run.runId, eventId, version: run.version, build, ...image, createdAt: Date.now() };
}

interface Expected {
  version: string;
  build: string;
  historyLength: number;
}

/** Why a snapshot cannot be used for this run (without decompressing it), or undefined. */
function snapshotMismatch(snapshot: Pick<SnapshotData, 'version' | 'build' | 'eventId'>, expected: Expected): string | undefined {
  if (snapshot.version !== expected.version) return `taken for bundle version ${snapshot.version}`;
  if (snapshot.build !== expected.build) return 'taken with another sandbox build';
  if (!Number.isInteger(snapshot.eventId) || snapshot.eventId < 1 || snapshot.eventId > expected.historyLength) {
    return `its position ${snapshot.eventId} is not in the history`;
  }
  return undefined;
}

/** The image a snapshot holds, or why it cannot be used. */
export function decodeSnapshot(snapshot: SnapshotData, expected: Expected & { byteLength: number }): { image: MemoryImage } | { unusable: string } {
  const mismatch = snapshotMismatch(snapshot, expected);
  if (mismatch !== undefined) return { unusable: mismatch };
  let data: Uint8Array;
  try {
    data = inflateRawSync(snapshot.data);
  } catch {
    return { unusable: 'its data does not decompress' };
  }
  const pages = snapshot.pages;
  if (pages.byteLength % 4 !== 0 || data.length !== (pages.byteLength / 4) * PAGE_SIZE) return { unusable: 'its pages and data do not match' };
  if (checksumOf(pages, data) !== snapshot.checksum) return { unusable: 'its checksum does not match' };
  // A copy: the store may hand out a view into a shared pool (Buffer), misaligned for 32-bit words.
  const indexes = new Uint32Array(new Uint8Array(pages).buffer);
  if (indexes.some((page) => (page + 1) * PAGE_SIZE > expected.byteLength)) return { unusable: 'it has pages outside the memory' };
  return { image: { byteLength: expected.byteLength, pages: indexes, data } };
}
