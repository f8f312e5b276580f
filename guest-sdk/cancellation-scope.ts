/**
 * Cancellation scopes, with Temporal's semantics: a scope's timers, activities and
 * conditions are cancelled with it; a cancellable scope follows its parent's cancellation;
 * a non-cancellable scope shields what runs in it (cleanup code, typically).
 *
 * @module
 */
import { asyncContext } from './async-context.js';
import { CancelledFailure } from '../common/failures.js';
import { getActivator } from './global-attributes.js';
import { toMs, type Duration } from '../common/time.js';

/** Passed as `parent` to create a scope with no parent (the root scope). */
export const NO_PARENT = Symbol('NO_PARENT');

export interface CancellationScopeOptions {
  /** Whether cancellation of this scope (or of its parent) cancels what runs in it. Default true. */
  cancellable?: boolean;
  /** Default: the current scope. */
  parent?: CancellationScope | typeof NO_PARENT;
  /** Cancels the scope once this much time has passed (a durable timer). */
  timeout?: Duration;
}

export class CancellationScope {
  readonly cancellable: boolean;
  readonly parent?: CancellationScope;
  readonly timeout?: number;
  /** Rejects with a `CancelledFailure` when the scope is cancelled. */
  readonly cancelRequested: Promise<never>;
  #cancelRequested = false;
  #reject!: (reason: unknown) => void;

  constructor(options: CancellationScopeOptions = {}) {
    this.cancellable = options.cancellable ?? true;
    this.timeout = options.timeout === undefined ? undefined : toMs(options.timeout);
    this.cancelRequested = new Promise<never>((_, reject) => {
      this.#reject = (reason) => {
        this.#cancelRequested = true;
        reject(reason);
      };
    });
    // Observed by whoever cares; never an unhandled rejection on its own.
    this.cancelRequested.catch(() => undefined);
    if (options.parent !== NO_PARENT) {
      const parent = options.parent ?? CancellationScope.current();
      this.parent = parent;
      // Children of a non-cancellable scope are shielded from the outer cancellation.
      if (parent.cancellable) {
        this.#cancelRequested = parent.#cancelRequested;
        parent.cancelRequested.catch((reason: unknown) => this.#reject(reason));
      }
    }
  }

  /** True when work started in this scope must be cancelled. */
  get consideredCancelled(): boolean {
    return this.#cancelRequested && this.cancellable;
  }

  /** Runs `fn` with this scope as the current scope (across its awaits too). */
  run<T>(fn: () => Promise<T>): Promise<T> {
    return asyncContext.run(this, () => this.runInScope(fn));
  }

  /** Requests cancellation of this scope and of the cancellable scopes below it. */
  cancel(reason: CancelledFailure = new CancelledFailure('Cancellation scope cancelled')): void {
    this.#reject(reason);
  }

  /** The scope the calling code runs in (the workflow's root scope outside any other). */
  static current(): CancellationScope {
    return asyncContext.get<CancellationScope | undefined>() ?? getActivator().rootScope;
  }

  static cancellable<T>(fn: () => Promise<T>): Promise<T> {
    return new CancellationScope({ cancellable: true }).run(fn);
  }

  static nonCancellable<T>(fn: () => Promise<T>): Promise<T> {
    return new CancellationScope({ cancellable: false }).run(fn);
  }

  static withTimeout<T>(timeout: Duration, fn: () => Promise<T>): Promise<T> {
    return new CancellationScope({ cancellable: true, timeout }).run(fn);
  }

  private async runInScope<T>(fn: () => Promise<T>): Promise<T> {
    let timerScope: CancellationScope | undefined;
    if (this.timeout !== undefined) {
      const timeout = this.timeout;
      timerScope = new CancellationScope();
      timerScope.run(() => getActivator().startTimer(timeout)).then(
        () => this.cancel(),
        () => undefined, // the timer was cancelled because the scope finished first
      );
    }
    try {
      return await fn();
    } finally {
      if (timerScope && !timerScope.consideredCancelled) timerScope.cancel();
    }
  }
}
