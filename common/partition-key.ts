/**
 * The partition key of a workflow: a byte hashed from its namespace and id. A data folder's
 * partitions divide the 256 keys between them (see store/partitions.ts), and a run id carries
 * its workflow's key in its last byte, so that a store can route a call naming only the run
 * id. Shared by the guest runtime (which names child runs) and the host.
 *
 * @module
 */

/** FNV-1a over the UTF-16 code units, folded to a byte. */
function byteHash(text: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return (hash ^ (hash >>> 8) ^ (hash >>> 16) ^ (hash >>> 24)) & 0xff;
}

/** The partition key (0–255) of a workflow id in a namespace. */
export const partitionKey = (namespace: string, workflowId: string): number => byteHash(`${namespace}\u0000${workflowId}`);

/** `uuid` (lowercase hex) with its last byte replaced by `key`. */
export const withPartitionKey = (uuid: string, key: number): string => uuid.slice(0, -2) + key.toString(16).padStart(2, '0');

/** The key a run id carries in its last byte; a hash of the id for ids that do not end in a hex byte. */
export function partitionKeyOfRun(runId: string): number {
  const last = runId.slice(-2);
  return /^[0-9a-f]{2}$/.test(last) ? parseInt(last, 16) : byteHash(runId);
}
