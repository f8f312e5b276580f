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

/** Whose guest work a unit is (a namespace), and its share relative to the others' (1: equal). */
export interface Tenant {
  name: string;
  weight: number;
}

interface TenantQueue<T> {
  virtualTime: number;
  weight: number;
  units: T[];
  /** What the tenant's units typically take (a moving average of their thread time); unknown before the first ended. */
  typicalMs?: number;
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

  /**
   * The next unit to run, with the tenant it is charged to and what it is expected to take
   * (as long as anything, until one of the tenant's units was measured); undefined when nothing
   * waits, or when `fits` refuses it (the unit stays first). `fits` also learns whether other
   * tenants have units waiting.
   */
  next(fits: (candidate: { tenant: string; expectedMs: number; competing: boolean }) => boolean = () => true): { tenant: string; unit: T; expectedMs: number } | undefined {
    let chosen: [string, TenantQueue<T>] | undefined;
    let waiting = 0;
    for (const entry of this.tenants) {
      if (entry[1].units.length === 0) continue;
      waiting++;
      if (!chosen || entry[1].virtualTime < chosen[1].virtualTime) chosen = entry;
    }
    const expectedMs = chosen?.[1].typicalMs ?? Infinity;
    if (!chosen || !fits({ tenant: chosen[0], expectedMs, competing: waiting > 1 })) return undefined;
    const [tenant, queue] = chosen;
    this.virtualNow = queue.virtualTime;
    this.queued--;
    return { tenant, unit: queue.units.shift()!, expectedMs };
  }

  /** A unit of `tenant` ended after `busyMs` of thread time: its next units wait accordingly. (Tenants are kept: a namespace's measured cost outlives its idle spells.) */
  charge(tenant: string, busyMs: number): void {
    const queue = this.tenants.get(tenant);
    if (!queue) return;
    queue.virtualTime += busyMs / queue.weight;
    queue.typicalMs = queue.typicalMs === undefined ? busyMs : 0.8 * queue.typicalMs + 0.2 * busyMs;
  }
}
