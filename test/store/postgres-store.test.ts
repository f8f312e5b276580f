import { randomUUID } from 'node:crypto';
import { EventEmitter, once } from 'node:events';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { describe, expect, inject, it } from 'vitest';
import { openPostgresStore, runIdFor, StoreError, type AssignmentListener, type EventStore } from '../../store/index.js';
import { partitionOfRun } from '../../store/partitions.js';
import { runChild } from '../child-process.js';
import { eventStoreConformance } from './event-store.case.js';

const CHILD = fileURLToPath(new URL('./store-child.ts', import.meta.url));

const url = inject('postgresUrl');
const schemas = new WeakMap<EventStore, { schema: string; partitions: number }>();

/** A store in a schema of its own (each test gets an empty one). */
const freshSchema = (): string => `t_${randomUUID().replaceAll('-', '').slice(0, 20)}`;

const openIn = async (schema: string, partitions: number) => {
  const store = await openPostgresStore(url!, { schema, partitions });
  schemas.set(store, { schema, partitions });
  return store;
};

const isCode = (code: string) => (error: unknown) => error instanceof StoreError && error.code === code;

describe.skipIf(url === undefined)('the PostgreSQL store', () => {
  for (const partitions of [1, 16]) {
    eventStoreConformance({
      name: `PostgreSQL, ${partitions} partition${partitions === 1 ? '' : 's'}`,
      open: () => openIn(freshSchema(), partitions),
      reopen: async (store) => {
        await store.close();
        const { schema } = schemas.get(store)!;
        return openIn(schema, partitions);
      },
    });
  }

  it('refuses a schema created with another partition count, naming both', async () => {
    const schema = freshSchema();
    await (await openIn(schema, 4)).close();
    await expect(openPostgresStore(url!, { schema, partitions: 8 })).rejects.toSatisfy(
      (error) => error instanceof StoreError && error.code === 'AION_STORE_LAYOUT' && /created with 4 partitions and cannot be opened with 8/.test(error.message),
    );
    const reopened = await openPostgresStore(url!, { schema });
    expect(reopened.partitionCount).toBe(4);
    await reopened.close();
  });

  it('refuses only the write the database refuses when it was committed with others', async () => {
    const store = await openIn(freshSchema(), 4);
    // A text column cannot hold NUL: the database refuses that write (the engine never sends one).
    const results = await Promise.allSettled(['good-1', 'bad\u0000id', 'good-2'].map((id) => store.write({ control: { put: [{ kind: 'k', id, value: id }] } })));
    expect(results.map((result) => result.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect(((results[1] as PromiseRejectedResult).reason as StoreError).code).toBe('AION_STORE_INVALID_VALUE');
    expect((await store.listControl('k')).map((record) => record.id)).toEqual(['good-1', 'good-2']);
    expect(store.unavailable).toBeUndefined();
    await store.close();
  });

  it("keeps to its schema whatever session options the address carries", async () => {
    const schema = freshSchema();
    // A provider's address may carry its own startup options: they must not move the engine's tables.
    const store = await openPostgresStore(`${url}?options=${encodeURIComponent('-c search_path=public -c statement_timeout=60000')}`, { schema, partitions: 4 });
    await store.write({ control: { put: [{ kind: 'k', id: 'i', value: 1 }] } });
    expect((await store.getControl('k', 'i'))?.value).toBe(1);
    const admin = new pg.Client({ connectionString: url });
    await admin.connect();
    const { rows } = await admin.query("SELECT table_schema FROM information_schema.tables WHERE table_name = 'control' AND table_schema IN ($1, 'public')", [schema]);
    expect(rows).toEqual([{ table_schema: schema }]);
    await admin.end();
    await store.close();
  });

  it("reports each partition's lease holder, how long its oldest due entry has waited and its pending effects", async () => {
    const store = await openIn(freshSchema(), 4);
    const runId = runIdFor('default', 'wf');
    await store.write({
      histories: [{ namespace: 'default', runId, events: [{ eventId: 1, type: 'A' }] }],
      dueEntries: { put: [{ dueAt: Date.now() - 5000, namespace: 'default', owner: runId, key: 'timer:1' }, { dueAt: Date.now() + 60_000, namespace: 'default', owner: runId, key: 'timer:2' }] },
      outbox: { put: [{ id: 'effect-1', namespace: 'default', effect: {} }] },
    });
    const { self, partitions } = await store.partitionStatus!();
    expect(partitions.map((p) => p.partition)).toEqual([-1, 0, 1, 2, 3]);
    expect(partitions.every((p) => p.owner === self && p.epoch === 1 && p.expiresAt! > Date.now())).toBe(true);
    const busy = partitionOfRun(runId, 4);
    expect(partitions[busy + 1].dueLagMs).toBeGreaterThanOrEqual(5000);
    expect(partitions[busy + 1].outboxEntries).toBe(1);
    expect(partitions.filter((p) => p.partition !== busy).map((p) => [p.dueLagMs, p.outboxEntries])).toEqual([[0, 0], [0, 0], [0, 0], [0, 0]]);
    await store.close();
  });

  describe('partition leases', () => {

    it('lets one engine serve a schema: a second is refused while the first lives, and opens once it closed', async () => {
      const schema = freshSchema();
      const first = await openIn(schema, 4);
      await expect(openPostgresStore(url!, { schema })).rejects.toSatisfy((error) => isCode('AION_STORE_LOCKED')(error) && /another engine \(.+\) holds the lease/.test((error as Error).message));
      await first.close();
      const second = await openPostgresStore(url!, { schema });
      await second.close();
    });

    it('takes the leases of an engine killed with SIGKILL over at once, long before they expire', async () => {
      const schema = freshSchema();
      const holder = runChild(CHILD, ['hold', `${url}#${schema}`]);
      await holder.line(/^held$/);
      const refused = runChild(CHILD, ['try', `${url}#${schema}`]);
      expect(await refused.line(/^(opened|refused)/)).toBe('refused AION_STORE_LOCKED');
      holder.process.kill('SIGKILL');
      await holder.exited;
      // The holder's leases last 120 s; its session ended with the process, and with it its claim.
      await expect.poll(async () => runChild(CHILD, ['try', `${url}#${schema}`]).line(/^(opened|refused)/), { timeout: 10_000 }).toBe('opened');
    });

    it('refuses every write once another engine took a lease over (fencing), writing nothing', async () => {
      const schema = freshSchema();
      const store = await openIn(schema, 4);
      const runId = runIdFor('default', 'wf');
      await store.write({ histories: [{ namespace: 'default', runId, events: [{ eventId: 1, type: 'A' }] }] });
      // What a takeover does to the lease rows (the store's own renewal has not run yet).
      const admin = new pg.Client({ connectionString: url });
      await admin.connect();
      await admin.query(`UPDATE ${schema}.leases SET owner = 'elsewhere', epoch = epoch + 1`);
      const unavailable = once(store.events, 'availability');
      await expect(store.write({ histories: [{ namespace: 'default', runId, events: [{ eventId: 2, type: 'B' }] }] })).rejects.toSatisfy(isCode('AION_STORE_FENCED'));
      expect((await unavailable)[0]).toMatchObject({ available: false });
      expect(store.unavailable?.code).toBe('AION_STORE_FENCED');
      await expect(store.write({ control: { put: [{ kind: 'k', id: 'i', value: 1 }] } })).rejects.toSatisfy(isCode('AION_STORE_FENCED'));
      const { rows } = await admin.query(`SELECT count(*)::int AS count FROM ${schema}.events`);
      expect(rows[0].count).toBe(1);
      await admin.end();
      await store.close();
    });

    it('finds a lease taken over at its next renewal, and refuses writes from then on', async () => {
      const schema = freshSchema();
      const store = await openPostgresStore(url!, { schema, partitions: 4, leaseTtlMs: 600 });
      const admin = new pg.Client({ connectionString: url });
      await admin.connect();
      const unavailable = once(store.events, 'availability');
      await admin.query(`UPDATE ${schema}.leases SET owner = 'elsewhere', epoch = epoch + 1 WHERE partition = 2`);
      const [change] = (await unavailable) as [{ available: boolean; error?: StoreError }];
      expect(change).toMatchObject({ available: false });
      expect(change.error?.code).toBe('AION_STORE_FENCED');
      expect(change.error?.message).toMatch(/took over the lease of partition 2/);
      await expect(store.write({ control: { put: [{ kind: 'k', id: 'i', value: 1 }] } })).rejects.toSatisfy(isCode('AION_STORE_FENCED'));
      await admin.end();
      await store.close();
    });

    it('survives its connections being ended by the server: writes in flight fail as unavailable, then it writes again', async () => {
      const schema = freshSchema();
      const store = await openPostgresStore(url!, { schema, partitions: 4, leaseTtlMs: 600 });
      const admin = new pg.Client({ connectionString: url });
      await admin.connect();
      const changes: boolean[] = [];
      store.events.on('availability', (change) => changes.push(change.available));
      const runIds = Array.from({ length: 20 }, (_, i) => runIdFor('default', `wf-${i}`));
      let next = 1;
      const outcomes: string[] = [];
      // Rounds go on until a few after the sessions were ended (so that some writes are in flight then, however fast they are).
      let roundsAfterEnd: number | undefined;
      const writing = (async () => {
        while (roundsAfterEnd === undefined || roundsAfterEnd++ < 5) {
          const eventId = next;
          const results = await Promise.allSettled(runIds.map((runId) => store.write({ histories: [{ namespace: 'default', runId, events: [{ eventId, type: 'E' }] }] })));
          for (const result of results) outcomes.push(result.status === 'fulfilled' ? 'ok' : (result.reason as StoreError).code);
          // A round whose writes all landed moves on; after an unknown outcome the heads are read again from the database.
          next = Math.min(...(await Promise.all(runIds.map((runId) => store.nextEventId('default', runId)))));
          await expect.poll(() => store.unavailable).toBeUndefined();
        }
      })();
      await expect.poll(() => outcomes.length).toBeGreaterThan(40);
      // Every session of this store: its pool and its liveness lock.
      await admin.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name LIKE '%:${schema}'`);
      roundsAfterEnd = 0;
      await writing;
      expect(outcomes).toContain('AION_STORE_UNAVAILABLE');
      expect(changes).toEqual([false, true]);
      // It still holds its leases (its lock was taken again) and writes.
      await store.write({ control: { put: [{ kind: 'k', id: 'after', value: 1 }] } });
      expect((await store.getControl('k', 'after'))?.value).toBe(1);
      await admin.end();
      await store.close();
    });
  });

  describe('cluster mode', () => {
    const PARTITIONS = 4;
    const openMember = (schema: string, name: string, leaseTtlMs = 600) => openPostgresStore(url!, { schema, partitions: PARTITIONS, leaseTtlMs, cluster: { address: `http://${name}:7233` } });

    /** A listener that records what its store tells it, as events a test can await. */
    function recorder() {
      const told = new EventEmitter();
      let controlChanges = 0;
      const listener: AssignmentListener = {
        gained: async (partitions, control) => void told.emit('gained', partitions, control),
        releasing: async (partitions) => void told.emit('releasing', partitions),
        effectsPending: () => void told.emit('effects'),
        controlChanged: () => void (controlChanges++, told.emit('control')),
      };
      return { told, listener, controlChanges: () => controlChanges };
    }

    /** A workflow's run id in `partition`. */
    const runIn = (partition: number): string => {
      for (let i = 0; ; i++) if (partitionOfRun(runIdFor('default', `wf-${i}`), PARTITIONS) === partition) return runIdFor('default', `wf-${i}`);
    };

    it("shares a schema's partitions between its stores, refuses writes for another's without failing, and hands a closed store's over", async () => {
      const schema = freshSchema();
      const first = await openMember(schema, 'first');
      const one = recorder();
      const firstGained = once(one.told, 'gained');
      await first.assignment!.attach(one.listener);
      expect(await firstGained).toEqual([[0, 1, 2, 3], true]);

      const second = await openMember(schema, 'second');
      const two = recorder();
      const released = once(one.told, 'releasing');
      const secondGained = once(two.told, 'gained');
      await second.assignment!.attach(two.listener);
      // The first gives up its highest partitions once it stopped their work; the second takes them at its next beat.
      expect(await released).toEqual([[2, 3]]);
      expect(await secondGained).toEqual([[2, 3], false]);
      expect([0, 1, 2, 3].map((partition) => first.assignment!.serves(partition))).toEqual([true, true, false, false]);
      expect([0, 1, 2, 3].map((partition) => second.assignment!.serves(partition))).toEqual([false, false, true, true]);
      expect(first.assignment!.servesControl()).toBe(true);
      expect(await first.assignment!.ownerOf(3)).toMatchObject({ name: second.assignment!.self, address: 'http://second:7233' });

      const write = first.write({ histories: [{ namespace: 'default', runId: runIn(3), events: [{ eventId: 1, type: 'A' }] }] });
      await expect(write).rejects.toSatisfy((error) => isCode('AION_STORE_PARTITION_MOVED')(error) && (error as StoreError).partition === 3);
      expect(first.unavailable).toBeUndefined();
      await first.write({ histories: [{ namespace: 'default', runId: runIn(1), events: [{ eventId: 1, type: 'A' }] }] });

      const takenBack = once(one.told, 'gained');
      await second.close();
      expect(await takenBack).toEqual([[2, 3], false]);
      await first.close();
    });

    it('tells the store serving a partition of effects recorded for it, and the other stores of changed control records', async () => {
      // Both joined before either takes partitions, and beats a minute apart: what either is told between comes from the other.
      const schema = freshSchema();
      const [first, second] = [await openMember(schema, 'first', 60_000), await openMember(schema, 'second', 60_000)];
      const [one, two] = [recorder(), recorder()];
      const secondGained = once(two.told, 'gained');
      // Each reads the control records once it listens (what was announced before is not heard).
      const listening = [once(one.told, 'control'), once(two.told, 'control')];
      await first.assignment!.attach(one.listener);
      await second.assignment!.attach(two.listener);
      expect(await secondGained).toEqual([[2, 3], false]);
      await Promise.all(listening);

      // An effect the first records on a run of the second's partition: the second is told, lists it, and performs it (deleting it).
      const notified = once(two.told, 'effects');
      const entry = { id: 'effect-1', namespace: 'default', effect: { kind: 'test' }, target: { runId: runIn(2) } };
      await first.write({ histories: [{ namespace: 'default', runId: runIn(0), events: [{ eventId: 1, type: 'A' }] }], outbox: { put: [entry] } });
      await notified;
      expect(await first.listOutbox()).toEqual([]);
      expect(await second.listOutbox()).toEqual([entry]);
      await second.write({ histories: [{ namespace: 'default', runId: runIn(2), events: [{ eventId: 1, type: 'B' }] }], outbox: { delete: [entry.id] } });
      expect(await second.listOutbox()).toEqual([]);

      const changed = once(two.told, 'control');
      await first.assignment!.announceControlChange();
      await changed;
      expect([one.controlChanges(), two.controlChanges()]).toEqual([1, 2]);
      await second.close();
      await first.close();
    });
  });
});
