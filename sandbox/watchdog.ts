/**
 * A hook for a watchdog outside the thread that runs guest code. QuickJS's interrupt
 * handler stops ordinary runaway code at its CPU budget, but some guest work never calls it
 * (compiling a huge regular expression takes time quadratic in its size). A thread that runs
 * sandboxes can publish each unit's deadline here, so another thread can stop it.
 *
 * @module
 */

type UnitObserver = (deadline: number) => void;

let observer: UnitObserver | undefined;

/** Called with the `performance.now()` deadline of every unit of guest work as it starts. */
export function observeUnits(next: UnitObserver | undefined): void {
  observer = next;
}

export function unitStarted(deadline: number): void {
  observer?.(deadline);
}
