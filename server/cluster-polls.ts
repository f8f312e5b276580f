/**
 * Cluster mode: a remote worker may poll any engine of the cluster, but an engine hands out
 * the attempts of its own partitions only. A poll therefore asks this engine, then each other
 * live engine in turn (without waiting there, and one at a time, so that no engine hands out
 * an attempt the worker does not receive; an answer lost on the way loses its attempt until
 * its start-to-close timeout retries it, as any lost answer does), and otherwise waits here a little and asks the
 * others again, until its time is up.
 *
 * @module
 */
import type { ActivityTaskMessage, Engine } from '../engine/index.js';
import { FORWARDED_HEADER } from './forward.js';

/** How long a poll waits on this engine before asking the others again. */
const ASK_AGAIN_MS = 500;
/** How long another engine has to answer a poll that does not wait (its answer waits for the attempt to be recorded there). */
const PEER_TIMEOUT_MS = 5000;

export interface ClusterPoll {
  namespace: string;
  taskQueue: string;
  identity: string;
  waitMs: number;
  signal: AbortSignal;
  /** The poll's own request headers (its credential), passed on to the other engines. */
  headers: Headers;
}

export async function pollAcrossCluster(engine: Engine, poll: ClusterPoll): Promise<ActivityTaskMessage | undefined> {
  const { namespace, taskQueue, identity, signal } = poll;
  const local = (waitMs: number) => engine.pollActivityTask({ namespace, taskQueue, identity, waitMs, signal });
  const deadline = Date.now() + poll.waitMs;
  for (;;) {
    const peers = (await engine.clusterNodes()).filter((node) => !node.self && node.live);
    // No other engine (or no cluster): a poll of this one, for the time left.
    if (peers.length === 0) return local(Math.max(0, deadline - Date.now()));
    const here = await local(0);
    if (here) return here;
    for (const peer of peers) {
      if (signal.aborted) return undefined;
      const there = await askPeer(peer.address, poll).catch(() => undefined);
      if (there) return there;
    }
    const left = deadline - Date.now();
    if (left <= 0 || signal.aborted) return undefined;
    const waited = await local(Math.min(left, ASK_AGAIN_MS));
    if (waited) return waited;
  }
}

/** Another engine's waiting attempt, if it has one now (its answer to a poll that does not wait). */
async function askPeer(address: string, poll: ClusterPoll): Promise<ActivityTaskMessage | undefined> {
  const headers = new Headers({ 'content-type': 'application/json', [FORWARDED_HEADER]: '1' });
  const authorization = poll.headers.get('authorization');
  if (authorization) headers.set('authorization', authorization);
  const path = `/v1/namespaces/${encodeURIComponent(poll.namespace)}/task-queues/${encodeURIComponent(poll.taskQueue)}/activity-tasks/poll`;
  // Bounded: a node frozen or unreachable holds no poll up for long.
  const answer = await fetch(`${address.replace(/\/$/, '')}${path}`, { method: 'POST', headers, body: JSON.stringify({ identity: poll.identity, waitMs: 0 }), signal: AbortSignal.timeout(PEER_TIMEOUT_MS) });
  if (answer.status !== 200) return undefined;
  return (await answer.json()) as ActivityTaskMessage;
}
