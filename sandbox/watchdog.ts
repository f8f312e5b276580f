/**
 * A hook for a watchdog outside the thread that runs guest code. QuickJS's interrupt
 * handler stops ordinary runaway code at its CPU budget, but some guest work never calls it
 * (compiling a huge regular expression takes time quadratic in its size). A thread that runs
 * sandboxes can publish, around every call into guest code, the deadline of the unit of work
 * it belongs to, so another thread can stop it.
 *
 * @module
 */

/** Told the `performance.now()` deadline as a guest call starts, and 0 when it returns. */
type GuestCallObserver = (deadline: number) => void;

let observer: GuestCallObserver | undefined;

export function observeGuestCalls(next: GuestCallObserver | undefined): void {
  observer = next;
}

export function guestCallStarted(deadline: number): void {
  observer?.(deadline);
}

export function guestCallEnded(): void {
  observer?.(0);
}
