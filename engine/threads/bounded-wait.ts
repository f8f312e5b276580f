/**
 * Waits that give up: on an abort signal, or after a time. A thread that died or hangs must
 * not hold a caller (a handle's `result()`, a restart, `close()`) forever.
 */

/** `promise`, or a rejection with the signal's reason once it aborts. */
export function untilAborted<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return promise;
  if (signal.aborted) {
    promise.catch(() => undefined); // given up on: its own failure is no longer anyone's to handle
    return Promise.reject(signal.reason);
  }
  let onAbort: () => void = () => undefined;
  const aborted = new Promise<never>((_, reject) => {
    onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
  });
  return Promise.race([promise, aborted]).finally(() => signal.removeEventListener('abort', onAbort));
}

/** `promise`, or a rejection naming `what` once `ms` have passed, or with the reason `signal` aborts with. */
export function bounded<T>(promise: Promise<T>, ms: number, what: string, signal?: AbortSignal): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} took longer than ${ms} ms`)), ms).unref();
  });
  return untilAborted(Promise.race([promise, timedOut]), signal).finally(() => clearTimeout(timer));
}
