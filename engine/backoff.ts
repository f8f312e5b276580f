/**
 * How internal deliveries (a fired timer, an activity's outcome, a recorded effect) retry
 * after a failure: from one second, doubling, up to a minute, with jitter so that many
 * failures do not retry in lockstep. While the store refuses writes nothing retries: the
 * engine drives every pending delivery again once the store is back (engine.ts, `recover`).
 *
 * @module
 */
const FIRST_MS = 1000;
const MAX_MS = 60_000;

function backoffMs(attempt: number): number {
  const base = Math.min(FIRST_MS * 2 ** Math.max(0, attempt - 1), MAX_MS);
  return Math.round(base * (0.75 + Math.random() * 0.5));
}

/** How long to wait before retry `attempt` (1-based); undefined while the store refuses writes (no retry: a sweep follows). */
export function retryDelayMs(store: { readonly unavailable: unknown }, attempt: number): number | undefined {
  return store.unavailable ? undefined : backoffMs(attempt);
}
