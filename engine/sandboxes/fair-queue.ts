/**
 * Fair scheduling of guest work between tenants (namespaces) on one sandbox thread: a ready
 * queue per tenant, served by start-time fair queuing — a weighted fair queuing discipline
 * whose cost is the thread time each unit actually took, charged when it ends (a unit's cost
 * is not known before it runs). Each tenant has a virtual time that advances by
 * `busyMs / weight` per unit; the next unit is the head of the non-empty queue with the
 * smallest virtual time (on a tie, the tenant served longest ago). A tenant whose queue was
 * empty starts again at the current virtual time, so idleness banks no credit. So tenants that
 * all have work waiting share the thread by weight, and a tenant's small activations pass
 * another's backlog of heavy ones instead of waiting behind it.
 *
 * @module
 */

/**
 * Whose guest work a unit is (a namespace of one engine: each engine has its own objects, so
 * engines sharing the threads are different tenants), and its share relative to the others'
 * (1: equal; read whenever its units are queued, so a change applies at once).
 */
export interface Tenant {
  readonly name: string;
  weight: number;
}

interface TenantQueue<T> {
  virtualTime: number;
  units: T[];
  /** What the tenant's units are expected to take: rises at once with a costlier unit, decays slowly; unknown before the first ended. */
  expectedMs?: number;
  /** When the tenant was last served (a counter), for ties. */
  servedAt: number;
}

export interface Candidate<T> {
  tenant: Tenant;
  unit: T;
  expectedMs: number;
  /** Other tenants have units waiting too. */
  competing: boolean;
}

export class FairQueue<T> {
  private readonly tenants = new Map<Tenant, TenantQueue<T>>();
  /** The virtual time of the unit started last. */
  private virtualNow = 0;
  private served = 0;

  push(tenant: Tenant, unit: T): void {
    let queue = this.tenants.get(tenant);
    if (!queue) this.tenants.set(tenant, (queue = { virtualTime: this.virtualNow, units: [], servedAt: 0 }));
    if (queue.units.length === 0) queue.virtualTime = Math.max(queue.virtualTime, this.virtualNow);
    queue.units.push(unit);
  }

  /**
   * The next unit to run, with its tenant and what it is expected to take (as long as anything,
   * until one of the tenant's units was measured); undefined when nothing waits, or when `fits`
   * refuses it (the unit stays first).
   */
  next(fits: (candidate: Candidate<T>) => boolean = () => true): Candidate<T> | undefined {
    let chosen: [Tenant, TenantQueue<T>] | undefined;
    let waiting = 0;
    for (const entry of this.tenants) {
      const [, queue] = entry;
      if (queue.units.length === 0) continue;
      waiting++;
      if (!chosen || queue.virtualTime < chosen[1].virtualTime || (queue.virtualTime === chosen[1].virtualTime && queue.servedAt < chosen[1].servedAt)) chosen = entry;
    }
    if (!chosen) return undefined;
    const [tenant, queue] = chosen;
    const candidate: Candidate<T> = { tenant, unit: queue.units[0], expectedMs: queue.expectedMs ?? Infinity, competing: waiting > 1 };
    if (!fits(candidate)) return undefined;
    queue.units.shift();
    queue.servedAt = ++this.served;
    this.virtualNow = queue.virtualTime;
    return candidate;
  }

  /** Takes every waiting unit out (the thread is gone). */
  drain(): T[] {
    return [...this.tenants.values()].flatMap((queue) => queue.units.splice(0));
  }

  /** A unit of `tenant` ended after `busyMs` of thread time: its next units wait accordingly. */
  charge(tenant: Tenant, busyMs: number): void {
    const queue = this.tenants.get(tenant);
    if (!queue) return;
    queue.virtualTime += busyMs / tenant.weight;
    queue.expectedMs = queue.expectedMs === undefined ? busyMs : Math.max(busyMs, 0.8 * queue.expectedMs + 0.2 * busyMs);
    // A tenant with nothing waiting and nothing owed is forgotten (namespaces come and go); it comes back at the current virtual time.
    if (queue.units.length === 0 && queue.virtualTime <= this.virtualNow) this.tenants.delete(tenant);
  }
}
