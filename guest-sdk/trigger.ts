/**
 * `Trigger`: a promise workflow code resolves or rejects from outside (a signal handler, say),
 * that also rejects when the scope it was created in is cancelled. As Temporal's.
 *
 * @module
 */
import { CancellationScope } from './cancellation-scope.js';

export class Trigger<T> implements PromiseLike<T> {
  readonly #promise: Promise<T>;
  #resolve!: (value: T | PromiseLike<T>) => void;
  #reject!: (reason?: unknown) => void;

  constructor() {
    this.#promise = new Promise<T>((resolve, reject) => {
      this.#resolve = resolve;
      this.#reject = reject;
    });
    const scope = CancellationScope.current();
    if (scope.consideredCancelled) {
      scope.cancelRequested.catch(this.#reject);
    } else if (scope.cancellable) {
      // Listens only while pending: a settled trigger leaves nothing behind in its scope.
      const unsubscribe = scope.onCancel((reason) => this.#reject(reason));
      this.#promise.then(unsubscribe, unsubscribe);
    }
    this.#promise.catch(() => undefined); // observed through then()
  }

  then<R1 = T, R2 = never>(onfulfilled?: ((value: T) => R1 | PromiseLike<R1>) | null, onrejected?: ((reason: unknown) => R2 | PromiseLike<R2>) | null): Promise<R1 | R2> {
    return this.#promise.then(onfulfilled, onrejected);
  }

  /** Own properties, as Temporal's: `setHandler(signal, trigger.resolve)` works unbound. */
  readonly resolve = (value: T | PromiseLike<T>): void => this.#resolve(value);

  readonly reject = (reason?: unknown): void => this.#reject(reason);
}
