/**
 * Fair scheduling of activations between namespaces: each sandbox thread serves the
 * namespaces' ready queues by the thread time each has used (weighted), so a namespace's
 * backlog of CPU-heavy activations does not make another namespace's work wait behind it.
 * The mechanism is checked (who goes first), not timings.
 */
import { describe, expect, it } from 'vitest';
import { FairQueue } from '../../engine/sandboxes/fair-queue.js';
import { fixtureBundle, openEngine } from '../helpers.js';

/** Runs the queue with one unit at a time, charging each unit `cost(tenant)`; returns who ran, in order. */
function drain(queue: FairQueue<string>, cost: (tenant: string) => number, steps = Infinity): string[] {
  const order: string[] = [];
  for (let next = queue.next(); next && order.length < steps; next = queue.next()) {
    order.push(next.unit);
    queue.charge(next.tenant, cost(next.tenant));
  }
  return order;
}

describe('fair queue', () => {
  it("lets a newly arrived tenant's light units pass a heavy tenant's backlog", () => {
    const queue = new FairQueue<string>();
    for (let i = 1; i <= 5; i++) queue.push('heavy', 1, `heavy-${i}`);
    const first = queue.next()!;
    queue.charge(first.tenant, 50);
    for (let i = 1; i <= 3; i++) queue.push('light', 1, `light-${i}`);
    expect(drain(queue, (tenant) => (tenant === 'heavy' ? 50 : 1))).toEqual(['light-1', 'light-2', 'light-3', 'heavy-2', 'heavy-3', 'heavy-4', 'heavy-5']);
  });

  it('shares the thread by weight between tenants that both have work waiting', () => {
    const queue = new FairQueue<string>();
    for (let i = 0; i < 60; i++) {
      queue.push('gold', 2, 'gold');
      queue.push('bronze', 1, 'bronze');
    }
    const order = drain(queue, () => 10, 30);
    expect(order.filter((tenant) => tenant === 'gold')).toHaveLength(20);
    expect(order.filter((tenant) => tenant === 'bronze')).toHaveLength(10);
  });

  it('banks no credit for a tenant while it is idle', () => {
    const queue = new FairQueue<string>();
    queue.push('early', 1, 'early');
    drain(queue, () => 10);
    for (let i = 0; i < 100; i++) queue.push('busy', 1, 'busy');
    drain(queue, () => 10, 50);
    for (let i = 0; i < 10; i++) queue.push('early', 1, 'early');
    // It comes back at the current virtual time: it alternates with the busy one, it does not run 10 in a row.
    expect(drain(queue, () => 10, 6)).toEqual(['early', 'busy', 'early', 'busy', 'early', 'busy']);
  });
});

describe('fair scheduling in the engine', () => {
  it("runs a quiet namespace's activation ahead of a noisy namespace's backlog of CPU-heavy ones", async () => {
    const engine = await openEngine({}, 'fairness.ts');
    const code = await fixtureBundle('fairness.ts');
    await engine.deploy({ code, namespace: 'noisy' });
    await engine.deploy({ code, namespace: 'quiet' });
    const finished: string[] = [];
    const run = async (namespace: string, workflowId: string, type: string, args: unknown[]) => {
      await (await engine.start(type, { namespace, workflowId, args })).result();
      finished.push(workflowId);
    };
    // The noisy namespace's runs are all started (their first activations queued) before the quiet one's.
    const noisy = Array.from({ length: 16 }, (_, i) => run('noisy', `spin-${i}`, 'spin', [3_000_000]));
    await run('quiet', 'quick', 'quick', []);
    await Promise.all(noisy);
    // Without fairness it would wait behind every spin already queued on its thread.
    expect(finished.indexOf('quick')).toBeLessThan(8);
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
  });
});
