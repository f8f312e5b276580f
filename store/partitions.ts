/**
 * Which partition a run belongs to. A data folder is split into a fixed number of partitions
 * (a power of two up to 256, chosen when the folder is created); a workflow id and every run
 * of it live in the partition its namespace and id hash to, so "one running run per workflow
 * id" and a run's start stay within one partition.
 *
 * Most store calls name a run by its run id alone, so a run id names its partition too: run
 * ids are random UUIDs whose last byte is the workflow's partition key (`runIdFor`; the guest
 * runtime names child runs the same way). The key is taken modulo the partition count, which
 * is why counts divide 256.
 *
 * @module
 */
import { randomUUID } from 'node:crypto';
import { partitionKey, partitionKeyOfRun, withPartitionKey } from '../common/partition-key.js';

/** Partitions of a new data folder unless asked otherwise. */
export const DEFAULT_PARTITIONS = 16;
export const MAX_PARTITIONS = 256;

/** Throws unless `count` is a power of two from 1 to 256. */
export function checkPartitionCount(count: unknown): number {
  if (typeof count !== 'number' || !Number.isInteger(count) || count < 1 || count > MAX_PARTITIONS || (count & (count - 1)) !== 0) {
    throw new RangeError(`partitions must be a power of two from 1 to ${MAX_PARTITIONS}, got ${String(count)}`);
  }
  return count;
}

/** A new run id of a run of this workflow: a random UUID carrying the workflow's partition key. */
export const runIdFor = (namespace: string, workflowId: string): string => withPartitionKey(randomUUID(), partitionKey(namespace, workflowId));

export const partitionOfWorkflow = (namespace: string, workflowId: string, count: number): number => partitionKey(namespace, workflowId) % count;
export const partitionOfRun = (runId: string, count: number): number => partitionKeyOfRun(runId) % count;
