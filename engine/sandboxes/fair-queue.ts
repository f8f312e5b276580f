/**
 * Fair scheduling of guest work between tenants (namespaces) on one sandbox thread: a ready
 * queue per tenant, served by start-time fair queuing — deficit round robin whose cost is the
 * thread time each unit actually took, charged when it ends (a unit's cost is not known
 * before it runs). Each tenant has a virtual time that advances by `busyMs / weight` per unit;
 * the next unit is the head of the non-empty queue with the smallest virtual time. A tenant
 * whose queue was empty starts again at the current virtual time, so idleness banks no credit.
 * So a tenant running CPU-heavy workflows at full rate gets its weight's share of the thread,
 * and another tenant's small activations pass ahead of its backlog instead of waiting behind it.
 *
 * @module
 */

interface TenantQueue<T> {
  virtualTime: number;
  weight: number;
  units: T[];
}

export class FairQueue<T> {
  private readonly tenants = new Map<string, TenantQueue<T>>();
  /** The virtual time of the unit started last. */
  private virtualNow = 0;
  private queued = 0;

  get size(): number {
    return this.queued;
  }

  push(tenant: string, weight: number, unit: T): void {
    let queue = this.tenants.get(tenant);
    if (!queue) this.tenants.set(tenant, (queue = { virtualTime: this.virtualNow, weight, units: [] }));
    queue.weight = weight;
    if (queue.units.length === 0) queue.virtualTime = Math.max(queue.virtualTime, this.virtualNow);
    queue.units.push(unit);
    this.queued++;
  }

  /** The next unit to run, with the tenant it is charged to. */
  next(): { tenant: string; unit: T } | undefined {
    let chosen: [string, TenantQueue<T>] | undefined;
    for (const entry of this.tenants) if (entry[1].units.length > 0 && (!chosen || entry[1].virtualTime < chosen[1].virtualTime)) chosen = entry;
    if (!chosen) return undefined;
    const [tenant, queue] = chosen;
    this.virtualNow = queue.virtualTime;
    this.queued--;
    return { tenant, unit: queue.units.shift()! };
  }

  /** A unit of `tenant` ended after `busyMs` of thread time: its next units wait accordingly. */
  charge(tenant: string, busyMs: number): void {
    const queue = this.tenants.get(tenant);
    if (!queue) return;
    queue.virtualTime += busyMs / queue.weight;
    // A tenant with nothing queued and nothing owed is forgotten (namespaces come and go).
    if (queue.units.length === 0 && queue.virtualTime <= this.virtualNow) this.tenants.delete(tenant);
  }
}
