/**
 * Fair scheduling of activations between namespaces: each sandbox thread serves the
 * namespaces' ready queues by the thread time each has used (weighted), so a namespace's
 * backlog of CPU-heavy activations does not make another namespace's work wait behind it.
 * The mechanism is checked (who goes first), not timings.
 */
import { describe, expect, it } from 'vitest';
import { FairQueue, type Tenant } from '../../engine/sandboxes/fair-queue.js';
import { fixtureBundle, openEngine } from '../helpers.js';

const tenant = (name: string, weight = 1): Tenant => ({ name, weight });

/** Runs up to `steps` units one at a time, charging each `cost(tenant)`; returns whose units ran, in order. */
function drain(queue: FairQueue<string>, cost: (tenant: Tenant) => number, steps = Infinity): string[] {
  const order: string[] = [];
  while (order.length < steps) {
    const next = queue.next();
    if (!next) break;
    order.push(next.unit);
    queue.charge(next.tenant, cost(next.tenant));
  }
  return order;
}

describe('fair queue', () => {
  it("lets a newly arrived tenant's light units pass a heavy tenant's backlog", () => {
    const queue = new FairQueue<string>();
    const heavy = tenant('heavy');
    const light = tenant('light');
    for (let i = 1; i <= 5; i++) queue.push(heavy, `heavy-${i}`);
    const first = queue.next()!;
    queue.charge(first.tenant, 50);
    for (let i = 1; i <= 3; i++) queue.push(light, `light-${i}`);
    expect(drain(queue, (who) => (who === heavy ? 50 : 1))).toEqual(['light-1', 'light-2', 'light-3', 'heavy-2', 'heavy-3', 'heavy-4', 'heavy-5']);
  });

  it('shares the thread by weight between tenants that both have work waiting', () => {
    const queue = new FairQueue<string>();
    const gold = tenant('gold', 2);
    const bronze = tenant('bronze', 1);
    for (let i = 0; i < 60; i++) {
      queue.push(gold, 'gold');
      queue.push(bronze, 'bronze');
    }
    const order = drain(queue, () => 10, 30);
    expect(order.filter((who) => who === 'gold')).toHaveLength(20);
    expect(order.filter((who) => who === 'bronze')).toHaveLength(10);
  });

  it('banks no credit for a tenant while it is idle', () => {
    const queue = new FairQueue<string>();
    const early = tenant('early');
    const busy = tenant('busy');
    queue.push(early, 'early');
    drain(queue, () => 10);
    for (let i = 0; i < 100; i++) queue.push(busy, 'busy');
    drain(queue, () => 10, 50);
    for (let i = 0; i < 10; i++) queue.push(early, 'early');
    // It comes back at the current virtual time: it takes turns with the busy one instead of running its 10 in a row.
    const order = drain(queue, () => 10, 10);
    expect(order.filter((who) => who === 'early').length).toBeLessThanOrEqual(6);
    expect(order.join(',')).not.toContain('early,early,early');
  });

  it('expects a tenant unit to take as long as its costliest recent one, and offers it to `fits` before taking it', () => {
    const queue = new FairQueue<string>();
    const one = tenant('one');
    queue.push(one, 'a');
    expect(queue.next((candidate) => candidate.expectedMs < 100)).toBeUndefined(); // never measured: as long as anything
    const a = queue.next()!;
    queue.charge(a.tenant, 40);
    queue.push(one, 'b');
    expect(queue.next()!.expectedMs).toBe(40);
  });
});

describe('fair scheduling in the engine', () => {
  it("runs a quiet namespace's activation ahead of a noisy namespace's backlog of CPU-heavy ones", async () => {
    // One sandbox thread: every run's activations share it, whatever the machine's cores. Each partition thread has
    // sandbox threads of its own, so with partition threads (AION_TEST_THREADS) one serves every run.
    const engine = await openEngine({ sandboxThreads: 1, ...(process.env.AION_TEST_THREADS ? { threads: 1 } : {}) }, 'fairness.ts');
    const code = await fixtureBundle('fairness.ts');
    await engine.deploy({ code, namespace: 'noisy' });
    await engine.deploy({ code, namespace: 'quiet' });
    const finished: string[] = [];
    const run = async (namespace: string, workflowId: string, type: string, args: unknown[]) => {
      await (await engine.start(type, { namespace, workflowId, args })).result();
      finished.push(workflowId);
    };
    // The noisy namespace's runs are all started (their first activations queued) before the quiet one's.
    const noisy = Array.from({ length: 12 }, (_, i) => run('noisy', `spin-${i}`, 'spin', [1_000_000]));
    await run('quiet', 'quick', 'quick', []);
    await Promise.all(noisy);
    // It waits for the spin running when it arrives (and one more at most), not behind the backlog as first come, first served would have it.
    expect(finished.indexOf('quick')).toBeLessThanOrEqual(2);
  });

  it("takes a namespace's weight from its schedulingWeight, kept current when it changes", async () => {
    const engine = await openEngine({}, 'fairness.ts');
    await engine.namespaces.create('gold', { quotas: { schedulingWeight: 2.5 } });
    const tenant = engine.namespaces.tenant('gold');
    await expect.poll(() => tenant.weight).toBe(2.5);
    await engine.namespaces.update('gold', { quotas: { schedulingWeight: 0.5 } });
    expect(tenant.weight).toBe(0.5);
    await engine.namespaces.update('gold', { quotas: {} });
    expect(tenant.weight).toBe(1);
    await expect(engine.namespaces.update('gold', { quotas: { schedulingWeight: 0 } })).rejects.toThrow('quota schedulingWeight must be a positive number, got 0');
    await expect(engine.namespaces.update('gold', { quotas: { schedulingWeight: 1000 } })).rejects.toThrow('quota schedulingWeight must be between 0.01 and 100, got 1000');
  });
});
