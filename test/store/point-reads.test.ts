/**
 * Point reads under load: beyond the reads already out, the rest go out together as one
 * `getMany`, each caller getting its own key's value (or the failure of its own batch).
 */
import { MemoryLevel } from 'memory-level';
import { describe, expect, it } from 'vitest';
import type { KvDatabase } from '../../store/kv-database.js';
import { PointReads } from '../../store/point-reads.js';

/** A memory database holding k0…k9, counting the database calls of each kind. */
async function countedDatabase(): Promise<{ db: KvDatabase; calls: { get: number; getMany: number[] } }> {
  const db = new MemoryLevel<string, Uint8Array>({ keyEncoding: 'utf8', valueEncoding: 'view' }) as unknown as KvDatabase;
  await db.batch(Array.from({ length: 10 }, (_, i) => ({ type: 'put' as const, key: `k${i}`, value: new TextEncoder().encode(`v${i}`) })));
  const calls = { get: 0, getMany: [] as number[] };
  const get = db.get.bind(db);
  const getMany = db.getMany.bind(db);
  db.get = ((key: string) => (calls.get++, get(key))) as typeof db.get;
  db.getMany = ((keys: string[]) => (calls.getMany.push(keys.length), getMany(keys))) as typeof db.getMany;
  return { db, calls };
}

const text = (value: Uint8Array | undefined) => (value === undefined ? undefined : new TextDecoder().decode(value));

describe('point reads', () => {
  it('sends reads at once while few are out, and the ones beyond as one getMany', async () => {
    const { db, calls } = await countedDatabase();
    const reads = new PointReads(() => db, 2);
    const keys = [...Array.from({ length: 10 }, (_, i) => `k${i}`), 'missing'];
    const values = await Promise.all(keys.map((key) => reads.get(key)));
    expect(values.map(text)).toEqual([...Array.from({ length: 10 }, (_, i) => `v${i}`), undefined]);
    expect(calls).toEqual({ get: 2, getMany: [9] });
  });

  it('sends a read alone when none is out', async () => {
    const { db, calls } = await countedDatabase();
    const reads = new PointReads(() => db, 2);
    for (const key of ['k1', 'k2', 'k3']) expect(text(await reads.get(key))).toBe(`v${key.slice(1)}`);
    expect(calls).toEqual({ get: 3, getMany: [] });
  });

  it('fails the reads of a failed batch only, and goes on with the next', async () => {
    const { db } = await countedDatabase();
    let failing = true;
    const getMany = db.getMany.bind(db);
    db.getMany = ((keys: string[]) => (failing ? ((failing = false), Promise.reject(new Error('disk read failed'))) : getMany(keys))) as typeof db.getMany;
    const reads = new PointReads(() => db, 1);
    const first = reads.get('k0');
    const batched = [reads.get('k1'), reads.get('k2')];
    expect(text(await first)).toBe('v0');
    for (const read of batched) await expect(read).rejects.toThrow('disk read failed');
    expect(text(await reads.get('k3'))).toBe('v3');
    expect((await Promise.all([reads.get('k4'), reads.get('k5'), reads.get('k6')])).map(text)).toEqual(['v4', 'v5', 'v6']);
  });

  it('reads the database the store holds now (it is replaced when reopened)', async () => {
    const first = await countedDatabase();
    const second = await countedDatabase();
    let current = first.db;
    const reads = new PointReads(() => current, 2);
    await reads.get('k0');
    current = second.db;
    await reads.get('k0');
    expect([first.calls.get, second.calls.get]).toEqual([1, 1]);
  });
});
