import type { SnapshotRecord, StoredCheckpoint } from './types.js';

/** How a checkpoint's log lines are kept, apart from its image: a link in the chain of the run's checkpoints. */
export interface CheckpointLogs {
  eventId: number;
  previous: number;
  logs: unknown[];
}

/**
 * The checkpoint `image` with the log lines of its whole chain (each link names the one it was
 * captured after, back to the start of the history); undefined when a link is missing.
 */
export function joinCheckpointChain(image: SnapshotRecord, links: CheckpointLogs[]): StoredCheckpoint | undefined {
  const byEvent = new Map(links.map((link) => [link.eventId, link]));
  const chain: unknown[][] = [];
  for (let id = image.eventId; id > 0; ) {
    const link = byEvent.get(id);
    if (!link || link.previous >= id) return undefined;
    chain.push(link.logs);
    id = link.previous;
  }
  return { ...image, logs: chain.reverse().flat() };
}
