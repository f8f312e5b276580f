/**
 * A namespace's `maxResidentBytes` quota: beyond it, that namespace's least recently used idle
 * runs park — before the engine's own limits would park anyone's — and another namespace's
 * runs stay resident. Parked runs carry on when a signal or query wakes them.
 */
import { describe, expect, it } from 'vitest';
import { fixtureBundle, openEngine } from '../helpers.js';

describe('resident-bytes quota per namespace', () => {
  it("parks the namespace's own runs beyond its quota, not another namespace's", async () => {
    const engine = await openEngine();
    const code = await fixtureBundle();
    await engine.namespaces.create('small', { quotas: { maxResidentBytes: 1 } });
    await engine.namespaces.create('big');
    await engine.deploy({ code, namespace: 'small' });
    await engine.deploy({ code, namespace: 'big' });
    const parked: string[] = [];
    engine.events.on('runParked', ({ namespace }) => parked.push(namespace));

    const start = (namespace: string, i: number) => engine.start('approval', { namespace, workflowId: `${namespace}-${i}` });
    const small = [];
    for (let i = 0; i < 6; i++) small.push(await start('small', i));
    for (let i = 0; i < 4; i++) await start('big', i);
    // Each new run of `small` takes it over its quota: the older ones park (the newest stays, as the one just
    // used — the newest of each partition thread, with threads).
    await expect.poll(() => parked.filter((namespace) => namespace === 'small').length).toBeGreaterThanOrEqual(4);
    expect(parked.filter((namespace) => namespace === 'big')).toEqual([]);

    // A parked run carries on: a signal and an update wake it, and it completes.
    await small[0].signal('approve', 'ann');
    await small[0].executeUpdate('setLimit', 100);
    expect(await small[0].result()).toEqual({ approvedBy: 'ann', limit: 100 });
  });
});
