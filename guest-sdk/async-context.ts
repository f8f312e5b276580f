/**
 * Two async-context slots that follow the logical flow of workflow code across `await`:
 * the current cancellation scope, and the update whose handler is running (if any).
 *
 * QuickJS has no AsyncLocalStorage. Workflow bundles are built with async functions lowered
 * to generators (see engine/bundler), so every resumption after an `await` goes through
 * `Promise.prototype.then`; wrapping `then` to restore, in the callback, the value current
 * when the callback was registered makes the slot follow the code (zone.js does the same).
 *
 * @module
 */

let current: unknown;
let currentUpdate: unknown;

export const asyncContext = {
  get: <T>(): T => current as T,
  /** Runs `fn` with the scope slot set to `value`, restoring the previous value afterwards. */
  run<T>(value: unknown, fn: () => T): T {
    return runWith(value, currentUpdate, fn);
  },
  getUpdate: <T>(): T => currentUpdate as T,
  /** Runs `fn` with the update slot set to `update`. */
  runInUpdate<T>(update: unknown, fn: () => T): T {
    return runWith(current, update, fn);
  },
};

function runWith<T>(scope: unknown, update: unknown, fn: () => T): T {
  const previousScope = current;
  const previousUpdate = currentUpdate;
  current = scope;
  currentUpdate = update;
  try {
    return fn();
  } finally {
    current = previousScope;
    currentUpdate = previousUpdate;
  }
}

type Callback = ((value: unknown) => unknown) | null | undefined;

/** Wraps `Promise.prototype.then` (once, not writable, not configurable afterwards). */
export function installPromiseContextPropagation(): void {
  const originalThen = Promise.prototype.then;
  const bind = (callback: Callback): Callback => {
    if (typeof callback !== 'function') return callback;
    const capturedScope = current;
    const capturedUpdate = currentUpdate;
    return function resumeInContext(value: unknown) {
      return runWith(capturedScope, capturedUpdate, () => callback(value));
    };
  };
  Object.defineProperty(Promise.prototype as object, 'then', {
    value: function then(this: Promise<unknown>, onFulfilled?: Callback, onRejected?: Callback) {
      return originalThen.call(this, bind(onFulfilled), bind(onRejected));
    },
    writable: false,
    configurable: false,
    enumerable: false,
  });
}
