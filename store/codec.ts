import { Packr } from 'msgpackr';

/**
 * Value codec of the key-value stores. Records (shared structures) are off: they would have
 * to be persisted alongside the data, and a value must decode on its own after a crash.
 */
const packr = new Packr({ useRecords: false, mapsAsObjects: true });

export const encodeValue = (value: unknown): Uint8Array => packr.pack(value);
export const decodeValue = <T>(bytes: Uint8Array): T => packr.unpack(bytes) as T;
