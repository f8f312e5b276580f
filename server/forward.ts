/**
 * Cluster mode: a call for a partition another engine serves is forwarded to that engine's
 * API as it came (method, path, query, body, credentials), and its answer is passed back —
 * so any engine of a cluster takes any call. A forwarded request carries a hop count: an
 * engine that gets one for a partition that moved meanwhile forwards it once more at most.
 *
 * @module
 */
import { setTimeout as delay } from 'node:timers/promises';
import type { Context } from 'hono';
import { PartitionElsewhereError, StoreError, type Engine, type Logger } from '../engine/index.js';

/** The request header counting the forwards a request went through. */
export const FORWARDED_HEADER = 'aion-forwarded';
const MAX_HOPS = 2;
/** How long a request for a partition that is moving between engines waits for its new engine, and how often it looks. */
const MOVE_WAIT_MS = 5_000;
const MOVE_POLL_MS = 50;

/** Headers that describe one hop's connection or encoding, not the request or the answer. */
const HOP_HEADERS = ['host', 'connection', 'content-length', 'transfer-encoding', 'content-encoding', 'keep-alive'];

/** The partition an error says another engine serves, if it says so. */
function partitionElsewhere(error: unknown): number | undefined {
  if (error instanceof PartitionElsewhereError) return error.partition;
  if (error instanceof StoreError && error.code === 'AION_STORE_PARTITION_MOVED') return error.partition;
  return undefined;
}

/**
 * The engine serving the partition, once another engine than this one does: a partition this
 * engine is giving up, or one given up and not taken yet, is waited for (a beat at most, as a
 * rule), up to `MOVE_WAIT_MS`.
 */
async function ownerOnceMoved(engine: Engine, partition: number): Promise<{ node: string; address: string } | undefined> {
  const deadline = Date.now() + MOVE_WAIT_MS;
  for (;;) {
    const owner = await engine.partitionOwner(partition).catch(() => undefined);
    if (owner && !owner.self) return owner;
    if (Date.now() >= deadline) return undefined;
    await delay(MOVE_POLL_MS);
  }
}

/**
 * The owner's answer to the request, when `error` says another engine serves its partition and
 * that engine is known (undefined otherwise: the error is answered as it is).
 */
export async function forwardToOwner(engine: Engine, error: unknown, c: Context, logger?: Logger): Promise<Response | undefined> {
  const partition = partitionElsewhere(error);
  if (partition === undefined) return undefined;
  const hops = Number(c.req.header(FORWARDED_HEADER) ?? 0);
  if (!(hops < MAX_HOPS)) return undefined;
  const owner = await ownerOnceMoved(engine, partition);
  if (!owner) return undefined;
  const url = new URL(c.req.url);
  const headers = new Headers(c.req.raw.headers);
  for (const name of HOP_HEADERS) headers.delete(name);
  headers.set(FORWARDED_HEADER, String(hops + 1));
  const method = c.req.method;
  // The body as the route read it (Hono keeps it), or as sent when the route did not read it.
  const body = method === 'GET' || method === 'HEAD' ? undefined : await c.req.text();
  try {
    const answer = await fetch(`${owner.address.replace(/\/$/, '')}${url.pathname}${url.search}`, { method, headers, body, signal: c.req.raw.signal });
    const passed = new Headers(answer.headers);
    for (const name of HOP_HEADERS) passed.delete(name);
    return new Response(answer.body, { status: answer.status, headers: passed });
  } catch (failure) {
    logger?.warn({ err: failure, partition, owner: owner.node, address: owner.address }, 'could not forward a request to the engine serving its partition');
    return undefined;
  }
}
