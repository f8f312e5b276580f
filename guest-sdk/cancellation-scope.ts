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

/** Stops a cancellation listener (see `onCancel`). */
export type Unsubscribe = () => void;

export class CancellationScope {
  readonly cancellable: boolean;
  readonly parent?: CancellationScope;
  readonly timeout?: number;
  #cancelRequested = false;
  #reason: unknown;
  readonly #promise: Promise<never>;
  #reject!: (reason: unknown) => void;
  /**
   * Who must hear of a cancellation (pending timers, activities, children, nested scopes).
   * A set, not reactions on `cancelRequested`: a promise that only settles on cancellation
   * would keep every reaction ever attached to it, about 1 KiB per `await`, for the life of
   * the scope — a workflow looping for a year would run out of memory. (Runs started before
   * this, without the `cancellationListeners` flag, keep the reactions: their histories were
   * recorded with that ordering.)
   */
  readonly #listeners = new Set<(reason: unknown) => void>();
  /** Whether a cancellation of the parent cancels this scope (a cancellable parent). */
  readonly #followsParent: boolean;
  /**
   * Whether the scope stops listening to its parent once finished and idle (runs with the
   * `cancellationListeners` flag). Earlier runs listen for good and see a parent's
   * cancellation only once it reached them, as they were recorded.
   */
  readonly #mayLeaveParent: boolean;
  /** Set while the scope listens to its parent. */
  #unsubscribeFromParent: Unsubscribe | undefined;
  /** Set once `run` finished: the scope then leaves its parent while nothing in it is pending. */
  #finished = false;
  /** Set once someone read `cancelRequested`: the scope then listens to its parent for good. */
  #pinned = false;

  constructor(options: CancellationScopeOptions = {}) {
    this.cancellable = options.cancellable ?? true;
    this.timeout = options.timeout === undefined ? undefined : toMs(options.timeout);
    this.#promise = new Promise<never>((_, reject) => {
      this.#reject = reject;
    });
    // Observed by whoever cares; never an unhandled rejection on its own.
    this.#promise.catch(() => undefined);
    const parent = options.parent === NO_PARENT ? undefined : (options.parent ?? CancellationScope.current());
    this.parent = parent;
    // Children of a non-cancellable scope are shielded from the outer cancellation.
    this.#followsParent = parent?.cancellable === true;
    this.#mayLeaveParent = this.#followsParent && getActivator().flags.has('cancellationListeners');
    if (parent && this.#followsParent) this.#cancelRequested = parent.#isCancelRequested();
    this.#listenToParent();
  }

  /** Rejects with a `CancelledFailure` when the scope is cancelled. */
  get cancelRequested(): Promise<never> {
    this.#pinned = true;
    this.#listenToParent();
    return this.#promise;
  }

  /**
   * Calls `listener` (in a later microtask, as a promise reaction would run) when the scope
   * is cancelled, or soon if it already was. The returned function stops listening: call it
   * once what listened is settled, so the scope keeps nothing of it.
   */
  onCancel(listener: (reason: unknown) => void): Unsubscribe {
    if (!getActivator().flags.has('cancellationListeners')) {
      this.cancelRequested.catch(listener);
      return () => undefined;
    }
    // Work started in a scope that finished earlier (a promise chain that outlived it): listen again.
    this.#listenToParent();
    if (this.#reason !== undefined) {
      const reason = this.#reason;
      let active = true;
      void Promise.resolve().then(() => active && listener(reason));
      return () => (active = false);
    }
    this.#listeners.add(listener);
    return () => {
      this.#listeners.delete(listener);
      this.#leaveParentIfDone();
    };
  }

  /** True when work started in this scope must be cancelled. */
  get consideredCancelled(): boolean {
    return this.cancellable && this.#isCancelRequested();
  }

  /** Runs `fn` with this scope as the current scope (across its awaits too). */
  run<T>(fn: () => Promise<T>): Promise<T> {
    return asyncContext.run(this, () => this.runInScope(fn));
  }

  /** Requests cancellation of this scope and of the cancellable scopes below it. */
  cancel(reason: CancelledFailure = new CancelledFailure('Cancellation scope cancelled')): void {
    if (this.#reason !== undefined) return;
    this.#cancelRequested = true;
    this.#reason = reason;
    const listeners = [...this.#listeners];
    this.#listeners.clear();
    // Listeners first, then `cancelRequested`'s own reactions, each in registration order.
    if (listeners.length > 0) void Promise.resolve().then(() => listeners.forEach((listener) => callIgnoringErrors(listener, reason)));
    this.#reject(reason);
    this.#leaveParentIfDone();
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
      this.#finished = true;
      this.#leaveParentIfDone();
    }
  }

  #isCancelRequested(): boolean {
    // A scope that left its parent still sees a cancellation of the parent since then.
    return this.#cancelRequested || (this.#mayLeaveParent && this.#unsubscribeFromParent === undefined && this.parent!.#isCancelRequested());
  }

  #listenToParent(): void {
    if (!this.#followsParent || this.#unsubscribeFromParent !== undefined || this.#reason !== undefined) return;
    this.#unsubscribeFromParent = this.parent!.onCancel((reason) => this.cancel(reason as CancelledFailure));
  }

  /**
   * Once the scope's code finished and nothing in it is pending (work it left running still
   * listens), its parent need not tell it of a cancellation any more; it listens again if
   * more work starts in it.
   */
  #leaveParentIfDone(): void {
    if (!this.#mayLeaveParent || !this.#finished || this.#pinned || this.#listeners.size > 0) return;
    this.#unsubscribeFromParent?.();
    this.#unsubscribeFromParent = undefined;
  }
}

/** Each listener hears of a cancellation whatever another one does (as separate promise reactions would). */
function callIgnoringErrors(listener: (reason: unknown) => void, reason: unknown): void {
  try {
    listener(reason);
  } catch {
    // A listener's failure is its own (a promise reaction's would reject a promise nobody awaits).
  }
}
