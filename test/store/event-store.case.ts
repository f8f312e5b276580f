/**
 * The EventStore conformance suite. Every backend calls `eventStoreConformance` once; the
 * file is not a test file itself (vitest only collects `*.test.ts`).
 */
import { describe, expect, it } from 'vitest';
import { runIdFor, StoreError, type EventStore, type RunRecord, type ScanRunsQuery, type StoredEvent } from '../../store/index.js';

export interface ConformanceOptions {
  name: string;
  /** A new, empty store. */
  open: () => Promise<EventStore>;
  /** Closes `store` and opens the same data again; absent for stores without persistence. */
  reopen?: (store: EventStore) => Promise<EventStore>;
  /** A scan filter keeping the runs of one workflow type (default: a plain function). */
  typeFilter?: (workflowType: string) => ScanRunsQuery['filter'];
}

const ev = (eventId: number, type = 'Test', extra: Record<string, unknown> = {}): StoredEvent => ({ eventId, type, ...extra });

const run = (runId: string, patch: Partial<RunRecord> = {}): RunRecord => ({
  namespace: 'default',
  workflowId: `wf-${runId}`,
  runId,
  workflowType: 'order',
  version: 'v1',
  taskQueue: 'default',
  status: 'Running',
  startTime: 1000,
  ...patch,
});

async function codeOf(promise: Promise<unknown>): Promise<string | undefined> {
  try {
    await promise;
    return undefined;
  } catch (error) {
    expect(error).toBeInstanceOf(StoreError);
    return (error as StoreError).code;
  }
}

export function eventStoreConformance({ name, open, reopen, typeFilter = (type) => (r) => r.workflowType === type }: ConformanceOptions): void {
  describe(`EventStore conformance: ${name}`, () => {
    it('appends and reads a history by range', async () => {
      const store = await open();
      await store.write({ histories: [{ namespace: 'default', runId: 'r1', events: [ev(1, 'A'), ev(2, 'B')] }] });
      await store.write({ histories: [{ namespace: 'default', runId: 'r1', events: [ev(3, 'C', { payload: { n: [1, 'x', null] } })] }] });
      expect((await store.readHistory('default', 'r1')).map((e) => e.type)).toEqual(['A', 'B', 'C']);
      expect((await store.readHistory('default', 'r1', { from: 2 })).map((e) => e.eventId)).toEqual([2, 3]);
      expect((await store.readHistory('default', 'r1', { from: 1, to: 2 })).map((e) => e.eventId)).toEqual([1, 2]);
      expect((await store.readHistory('default', 'r1'))[2]).toEqual(ev(3, 'C', { payload: { n: [1, 'x', null] } }));
      expect(await store.nextEventId('default', 'r1')).toBe(4);
      expect(await store.nextEventId('default', 'unknown')).toBe(1);
      await store.close();
    });

    it('keeps histories of runs whose ids share a prefix apart', async () => {
      const store = await open();
      await store.write({
        histories: [
          { namespace: 'default', runId: 'r1', events: [ev(1)] },
          { namespace: 'default', runId: 'r10', events: [ev(1), ev(2)] },
        ],
      });
      expect(await store.readHistory('default', 'r1')).toHaveLength(1);
      expect(await store.readHistory('default', 'r10')).toHaveLength(2);
      await store.close();
    });

    it('refuses an append that does not start at the next event id, writing nothing of its batch', async () => {
      const store = await open();
      // Two runs of one workflow: a batch is atomic within a partition, and they share one.
      const [r1, r2] = [runIdFor('default', 'wf'), runIdFor('default', 'wf')];
      await store.write({ histories: [{ namespace: 'default', runId: r1, events: [ev(1)] }] });
      const code = await codeOf(
        store.write({
          runs: [{ record: run(r2, { workflowId: 'wf' }) }],
          histories: [
            { namespace: 'default', runId: r2, events: [ev(1)] },
            { namespace: 'default', runId: r1, events: [ev(1, 'Duplicate')] },
          ],
        }),
      );
      expect(code).toBe('AION_STORE_CONFLICT');
      expect(await store.readHistory('default', r2)).toEqual([]);
      expect(await store.getRun('default', r2)).toBeUndefined();
      expect((await store.readHistory('default', r1)).map((e) => e.type)).toEqual(['Test']);
      await store.close();
    });

    it('lets exactly one of two concurrent writers with the same expected id win', async () => {
      const store = await open();
      await store.write({ histories: [{ namespace: 'default', runId: 'r1', events: [ev(1)] }] });
      const results = await Promise.allSettled([
        store.write({ histories: [{ namespace: 'default', runId: 'r1', events: [ev(2, 'First')] }] }),
        store.write({ histories: [{ namespace: 'default', runId: 'r1', events: [ev(2, 'Second')] }] }),
      ]);
      expect(results.map((r) => r.status).sort()).toEqual(['fulfilled', 'rejected']);
      const rejected = results.find((r) => r.status === 'rejected') as PromiseRejectedResult;
      expect((rejected.reason as StoreError).code).toBe('AION_STORE_CONFLICT');
      const history = await store.readHistory('default', 'r1');
      expect(history).toHaveLength(2);
      expect(['First', 'Second']).toContain(history[1].type);
      await store.close();
    });

    it('groups many concurrent appends and keeps each one whole', async () => {
      const store = await open();
      await Promise.all(
        Array.from({ length: 200 }, (_, i) =>
          store.write({
            runs: [{ record: run(`c${i}`) }],
            histories: [{ namespace: 'default', runId: `c${i}`, events: [ev(1), ev(2), ev(3)] }],
          }),
        ),
      );
      for (let i = 0; i < 200; i += 37) expect(await store.readHistory('default', `c${i}`)).toHaveLength(3);
      expect(await store.listRuns({ namespace: 'default', status: 'Running' })).toHaveLength(200);
      expect(await store.countRuns({ namespace: 'default', status: 'Running' })).toBe(200);
      expect(await store.countRuns({ namespace: 'default', status: 'Running', limit: 150 })).toBe(150);
      expect(await store.countRuns({ namespace: 'default', status: 'Completed' })).toBe(0);
      expect(await store.countRuns({ namespace: 'other', status: 'Running' })).toBe(0);
      await store.close();
    });

    it('indexes runs by status and type and moves them between statuses', async () => {
      const store = await open();
      await store.write({
        runs: [
          { record: run('a') },
          { record: run('b', { workflowType: 'refund' }) },
          { record: run('c', { namespace: 'other' }) },
        ],
        latestRuns: [{ namespace: 'default', workflowId: 'wf-a', runId: 'a' }],
      });
      await store.write({ runs: [{ record: run('a', { status: 'Completed', closeTime: 2000 }), previousStatus: 'Running' }] });
      const ids = (runs: RunRecord[]) => runs.map((r) => r.runId).sort();
      expect(ids(await store.listRuns({ namespace: 'default', status: 'Running' }))).toEqual(['b']);
      expect(ids(await store.listRuns({ namespace: 'default', status: 'Completed' }))).toEqual(['a']);
      expect(ids(await store.listRuns({ namespace: 'default', workflowType: 'order' }))).toEqual(['a']);
      expect(ids(await store.listRuns({ namespace: 'default' }))).toEqual(['a', 'b']);
      expect(await store.listRuns({ namespace: 'default', limit: 1 })).toHaveLength(1);
      expect([await store.countRuns({ namespace: 'default', status: 'Running' }), await store.countRuns({ namespace: 'default', status: 'Completed' })]).toEqual([1, 1]);
      expect((await store.getRun('default', 'a'))?.closeTime).toBe(2000);
      expect(await store.getLatestRunId('default', 'wf-a')).toBe('a');
      expect(await store.getLatestRunId('default', 'nope')).toBeUndefined();
      await store.close();
    });

    it('orders the due-time index by due time and removes entries', async () => {
      const store = await open();
      const entry = (dueAt: number, key: string) => ({ dueAt, namespace: 'default', owner: 'r1', key });
      await store.write({ dueEntries: { put: [entry(5000, 'timer:2'), entry(1000, 'timer:1'), entry(99_999_999_999, 'timer:3')] } });
      expect((await store.nextDueEntry())?.key).toBe('timer:1');
      expect((await store.dueEntries(5000)).map((e) => e.key)).toEqual(['timer:1', 'timer:2']);
      expect((await store.dueEntries(4999)).map((e) => e.key)).toEqual(['timer:1']);
      expect((await store.dueEntries(Number.MAX_SAFE_INTEGER, 1)).map((e) => e.key)).toEqual(['timer:1']);
      await store.write({ dueEntries: { delete: [entry(1000, 'timer:1')] } });
      expect((await store.nextDueEntry())?.key).toBe('timer:2');
      await store.close();
    });

    it('keeps due entries whose time has a fraction of a millisecond in order, never before they are due', async () => {
      const store = await open();
      const entry = (dueAt: number, key: string) => ({ dueAt, namespace: 'default', owner: 'r1', key });
      await store.write({ dueEntries: { put: [entry(1000.5, 'timer:2'), entry(999, 'timer:1'), entry(1_700_000_000_100.333, 'timer:3'), entry(1_700_000_000_050, 'timer:4')] } });
      expect((await store.dueEntries(1000)).map((e) => e.key)).toEqual(['timer:1']);
      expect((await store.dueEntries(1001)).map((e) => e.key)).toEqual(['timer:1', 'timer:2']);
      expect((await store.dueEntries(1_700_000_000_101)).map((e) => e.key)).toEqual(['timer:1', 'timer:2', 'timer:4', 'timer:3']);
      expect((await store.dueEntries(1_700_000_000_101)).find((e) => e.key === 'timer:3')?.dueAt).toBe(1_700_000_000_100.333);
      await store.write({ dueEntries: { delete: [entry(1000.5, 'timer:2')] } });
      expect((await store.dueEntries(1001)).map((e) => e.key)).toEqual(['timer:1']);
      await store.close();
    });

    it('keeps pending activity tasks until they are deleted', async () => {
      const store = await open();
      const task = (seq: number) => ({
        namespace: 'default', workflowId: 'wf', runId: 'r1', workflowType: 'order', seq, activityType: 'charge',
        args: [seq], taskQueue: 'default', options: {}, scheduledAt: 1, attempt: 1, notBefore: 1,
      });
      await store.write({ activityTasks: { put: [task(1), task(2)] } });
      await store.write({ activityTasks: { delete: [{ namespace: 'default', runId: 'r1', seq: 1 }] } });
      expect((await store.listActivityTasks()).map((t) => t.seq)).toEqual([2]);
      await store.close();
    });

    it('stores bundles by content hash and binds workflow types to versions', async () => {
      const store = await open();
      const bundle = { version: 'abc', code: 'exports.x = 1', workflowTypes: ['x'], deployedAt: 1 };
      await store.write({ bundles: [bundle], typeVersions: [{ namespace: 'default', workflowType: 'x', version: 'abc' }] });
      expect(await store.getBundle('abc')).toEqual(bundle);
      expect(await store.getBundle('nope')).toBeUndefined();
      expect(await store.listBundles()).toEqual([bundle]);
      expect(await store.getTypeVersion('default', 'x')).toBe('abc');
      expect(await store.getTypeVersion('other', 'x')).toBeUndefined();
      await store.close();
    });

    it('scans runs newest first, filtered, by start-time range, in pages', async () => {
      const store = await open();
      await store.write({
        runs: Array.from({ length: 7 }, (_, i) => ({ record: run(`s${i}`, { startTime: 1000 + i, workflowType: i % 2 ? 'odd' : 'even' }) })),
      });
      const ids = (page: { runs: RunRecord[] }) => page.runs.map((r) => r.runId);
      expect(ids(await store.scanRuns({ namespace: 'default' }))).toEqual(['s6', 's5', 's4', 's3', 's2', 's1', 's0']);
      const first = await store.scanRuns({ namespace: 'default', pageSize: 3, filter: typeFilter('even') });
      expect(ids(first)).toEqual(['s6', 's4', 's2']);
      const second = await store.scanRuns({ namespace: 'default', pageSize: 3, filter: typeFilter('even'), cursor: first.nextCursor });
      expect(ids(second)).toEqual(['s0']);
      expect(second.nextCursor).toBeUndefined();
      expect(ids(await store.scanRuns({ namespace: 'default', startedFrom: 1002, startedBefore: 1005 }))).toEqual(['s4', 's3', 's2']);
      let all = 0;
      for await (const record of store.allRuns()) all += record.runId.startsWith('s') ? 1 : 0;
      expect(all).toBe(7);
      await store.close();
    });

    it('scans the runs of a type or a status from their indexes, newest first, in pages, as statuses change', async () => {
      const store = await open();
      await store.write({
        runs: Array.from({ length: 7 }, (_, i) => ({ record: run(`t${i}`, { startTime: 2000 + i, workflowType: i % 2 ? 'odd' : 'even' }) })),
      });
      // A type whose name extends another's stays apart.
      await store.write({ runs: [{ record: run('t9', { startTime: 3000, workflowType: 'evener' }) }] });
      await store.write({ runs: [2, 3].map((i) => ({ record: run(`t${i}`, { startTime: 2000 + i, workflowType: i % 2 ? 'odd' : 'even', status: 'Completed', closeTime: 5000 }), previousStatus: 'Running' as const })) });
      const ids = (page: { runs: RunRecord[] }) => page.runs.map((r) => r.runId);
      const first = await store.scanRuns({ namespace: 'default', workflowType: 'even', pageSize: 2 });
      expect(ids(first)).toEqual(['t6', 't4']);
      expect(ids(await store.scanRuns({ namespace: 'default', workflowType: 'even', pageSize: 2, cursor: first.nextCursor }))).toEqual(['t2', 't0']);
      expect(ids(await store.scanRuns({ namespace: 'default', status: 'Completed' }))).toEqual(['t3', 't2']);
      expect(ids(await store.scanRuns({ namespace: 'default', status: 'Running', workflowType: 'odd' }))).toEqual(['t5', 't1']);
      expect(ids(await store.scanRuns({ namespace: 'default', status: 'Running', startedFrom: 2001, startedBefore: 2005 }))).toEqual(['t4', 't1']);
      expect(ids(await store.scanRuns({ namespace: 'other', workflowType: 'even' }))).toEqual([]);
      await store.write({ purgeRuns: [{ namespace: 'default', runId: 't3' }] });
      expect(ids(await store.scanRuns({ namespace: 'default', status: 'Completed' }))).toEqual(['t2']);
      expect(ids(await store.scanRuns({ namespace: 'default', workflowType: 'odd' }))).toEqual(['t5', 't1']);
      await store.close();
    });

    it('keeps outbox entries and schedules until they are deleted', async () => {
      const store = await open();
      await store.write({
        outbox: { put: [{ id: 'child:a', namespace: 'default', effect: { kind: 'x' } }, { id: 'child:b', namespace: 'default', effect: 1 }] },
        schedules: { put: [{ namespace: 'default', scheduleId: 'nightly', definition: { cron: '0 3 * * *' }, state: { fires: 0 } }] },
      });
      await store.write({ outbox: { delete: ['child:a'] } });
      expect(await store.listOutbox()).toEqual([{ id: 'child:b', namespace: 'default', effect: 1 }]);
      expect((await store.getSchedule('default', 'nightly'))?.definition).toEqual({ cron: '0 3 * * *' });
      expect(await store.listSchedules('default')).toHaveLength(1);
      expect(await store.listSchedules('other')).toHaveLength(0);
      await store.write({ schedules: { delete: [{ namespace: 'default', scheduleId: 'nightly' }] } });
      expect(await store.getSchedule('default', 'nightly')).toBeUndefined();
      await store.close();
    });

    it('keeps one snapshot per run, bytes intact, until it is replaced or deleted', async () => {
      const store = await open();
      const snapshot = (eventId: number) => ({
        namespace: 'default', runId: 'r1', eventId, version: 'v1', build: 'b1',
        pages: Uint8Array.from([1, 2, 3]), data: Uint8Array.from({ length: 5000 }, (_, i) => i % 251), checksum: 'c', createdAt: 1,
      });
      await store.write({ snapshots: { put: [snapshot(4)] } });
      await store.write({ snapshots: { put: [snapshot(9)] } });
      const read = await store.getSnapshot('default', 'r1');
      expect(read?.eventId).toBe(9);
      expect(Array.from(read!.data)).toEqual(Array.from(snapshot(9).data));
      await store.write({ snapshots: { delete: [{ namespace: 'default', runId: 'r1' }] } });
      expect(await store.getSnapshot('default', 'r1')).toBeUndefined();
      await store.close();
    });

    it('keeps several checkpoints per run, finds the nearest at or before an event, with the log lines of its chain', async () => {
      const store = await open();
      const checkpoint = (runId: string, eventId: number, previous: number) => ({
        namespace: 'default', runId, eventId, previous, version: 'v1', build: 'b1',
        pages: Uint8Array.from([1, 2]), data: Uint8Array.from({ length: 300 }, (_, i) => (i * eventId) % 251), checksum: 'c', createdAt: 1,
        logs: [`after ${previous}`, `at ${eventId}`],
      });
      await store.write({ checkpoints: { put: [checkpoint('r1', 20, 0), checkpoint('r1', 100, 20), checkpoint('r1', 1000, 100), checkpoint('r2', 50, 0)] } }, { durable: false });
      expect(await store.listCheckpoints('default', 'r1')).toEqual([20, 100, 1000]);
      expect(await store.getCheckpoint('default', 'r1', 999)).toMatchObject({ eventId: 100, logs: ['after 0', 'at 20', 'after 20', 'at 100'] });
      expect((await store.getCheckpoint('default', 'r1', 1000))?.logs).toHaveLength(6);
      expect(await store.getCheckpoint('default', 'r1', 19)).toBeUndefined();
      const read = await store.getCheckpoint('default', 'r2', 10_000);
      expect({ eventId: read?.eventId, data: Array.from(read!.data), logs: read?.logs }).toEqual({ eventId: 50, data: Array.from(checkpoint('r2', 50, 0).data), logs: ['after 0', 'at 50'] });
      // A chain with a missing link gives no checkpoint (its log lines would be incomplete).
      await store.write({ checkpoints: { delete: [{ namespace: 'default', runId: 'r1', eventId: 20 }] } });
      expect(await store.getCheckpoint('default', 'r1', 999)).toBeUndefined();
      await store.write({ checkpoints: { delete: [100, 1000].map((eventId) => ({ namespace: 'default', runId: 'r1', eventId })) } });
      expect(await store.listCheckpoints('default', 'r1')).toEqual([]);
      expect(await store.listCheckpoints('default', 'r2')).toEqual([50]);
      await store.close();
    });

    it('purges a run entirely — history, record, indexes, snapshot, checkpoints — and leaves its neighbours and a newer run of its id', async () => {
      const store = await open();
      // The newer run of wf-r1 carries its workflow's partition key, as every run id the engine makes.
      const r2 = runIdFor('default', 'wf-r1');
      const image = { version: 'v1', build: 'b1', pages: Uint8Array.from([1]), data: Uint8Array.from([7]), checksum: 'c', createdAt: 1 };
      await store.write({
        histories: ['r1', 'r10', r2].map((runId) => ({ namespace: 'default', runId, events: [ev(1), ev(2)] })),
        runs: [{ record: run('r1', { status: 'Completed', closeTime: 2000 }) }, { record: run('r10') }, { record: run(r2, { workflowId: 'wf-r1', startTime: 3000 }) }],
        latestRuns: [{ namespace: 'default', workflowId: 'wf-r10', runId: 'r10' }, { namespace: 'default', workflowId: 'wf-r1', runId: r2 }],
        snapshots: { put: [{ namespace: 'default', runId: 'r1', eventId: 2, ...image }] },
        checkpoints: { put: [{ namespace: 'default', runId: 'r1', eventId: 2, previous: 0, logs: [], ...image }] },
      });
      await store.write({ histories: [{ namespace: 'default', runId: 'r1', events: [ev(3)] }] });
      await store.write({ purgeRuns: [{ namespace: 'default', runId: 'r1' }, { namespace: 'default', runId: 'never-was' }] });
      expect(await store.getRun('default', 'r1')).toBeUndefined();
      expect(await store.readHistory('default', 'r1')).toEqual([]);
      expect(await store.nextEventId('default', 'r1')).toBe(1);
      expect(await store.getSnapshot('default', 'r1')).toBeUndefined();
      expect(await store.listCheckpoints('default', 'r1')).toEqual([]);
      expect((await store.listRuns({ namespace: 'default', status: 'Completed' })).map((r) => r.runId)).toEqual([]);
      expect((await store.scanRuns({ namespace: 'default' })).runs.map((r) => r.runId)).toEqual([r2, 'r10']);
      // The id's pointer names the newer run, so it stays; the neighbour whose id shares a prefix is whole.
      expect(await store.getLatestRunId('default', 'wf-r1')).toBe(r2);
      expect(await store.readHistory('default', 'r10')).toHaveLength(2);
      await store.write({ purgeRuns: [{ namespace: 'default', runId: r2 }] });
      expect(await store.getLatestRunId('default', 'wf-r1')).toBeUndefined();
      await store.close();
    });

    it('scans the runs whose search attribute has a value, newest first, as the values change', async () => {
      const store = await open();
      const customer = (id: string, startTime: number, value: unknown) => run(id, { workflowId: `wf-${id}`, startTime, searchAttributes: { Customer: value, Tags: ['a'] } });
      await store.write({ runs: [{ record: customer('c1', 1000, 'ann') }, { record: customer('c2', 2000, 'bob') }, { record: customer('c3', 3000, 'ann') }, { record: customer('c4', 4000, 1) }] });
      const scan = async (value: unknown, extra: { status?: 'Running' | 'Completed'; pageSize?: number; cursor?: string } = {}) =>
        store.scanRuns({ namespace: 'default', attribute: { name: 'Customer', value }, ...extra });
      const ids = async (value: unknown, extra: { status?: 'Running' | 'Completed' } = {}) => (await scan(value, extra)).runs.map((r) => r.runId);
      expect(await ids('ann')).toEqual(['c3', 'c1']);
      expect(await ids(1)).toEqual(['c4']);
      expect(await ids('1')).toEqual([]);
      const page = await scan('ann', { pageSize: 1 });
      expect(page.runs.map((r) => r.runId)).toEqual(['c3']);
      expect((await scan('ann', { pageSize: 1, cursor: page.nextCursor })).runs.map((r) => r.runId)).toEqual(['c1']);
      // c1 moves to bob and completes; c3 loses the attribute.
      const before = (await store.getRun('default', 'c1'))!;
      await store.write({
        runs: [
          { record: { ...customer('c1', 1000, 'bob'), status: 'Completed', closeTime: 5000 }, previousStatus: 'Running', previousSearchAttributes: before.searchAttributes },
          { record: run('c3', { workflowId: 'wf-c3', startTime: 3000, searchAttributes: {} }), previousStatus: 'Running', previousSearchAttributes: { Customer: 'ann', Tags: ['a'] } },
        ],
      });
      expect(await ids('ann')).toEqual([]);
      expect(await ids('bob')).toEqual(['c2', 'c1']);
      expect(await ids('bob', { status: 'Completed' })).toEqual(['c1']);
      // Values no index holds (too long; a lone surrogate, which UTF-8 keys cannot keep) are answered by scanning, and page.
      const long = 'x'.repeat(300);
      await store.write({ runs: [{ record: customer('c5', 6000, long) }, { record: customer('c6', 7000, '\uD800') }, { record: customer('c7', 8000, '\uD800') }] });
      expect(await ids(long)).toEqual(['c5']);
      const lone = await scan('\uD800', { pageSize: 1 });
      const rest = await scan('\uD800', { pageSize: 1, cursor: lone.nextCursor });
      expect([...lone.runs, ...rest.runs].map((r) => r.runId)).toEqual(['c7', 'c6']);
      // A store may know it is done without a cursor; with one, nothing follows.
      const after = rest.nextCursor === undefined ? [] : (await scan('\uD800', { pageSize: 1, cursor: rest.nextCursor })).runs;
      expect(after).toEqual([]);
      await store.write({ purgeRuns: [{ namespace: 'default', runId: 'c2' }] });
      expect(await ids('bob')).toEqual(['c1']);
      await store.close();
    });

    it('keeps control records by kind and id, listed in id order from a bound, by prefix, either way', async () => {
      const store = await open();
      const record = (kind: string, id: string) => ({ kind, id, value: { id, at: 1 } });
      await store.write({ control: { put: ['b/2', 'a/1', 'b/1', 'b/3', 'c'].map((id) => record('entry', id)).concat([record('other', 'b/1')]) } });
      const ids = async (query?: Parameters<typeof store.listControl>[1]) => (await store.listControl('entry', query)).map((r) => r.id);
      expect(await ids()).toEqual(['a/1', 'b/1', 'b/2', 'b/3', 'c']);
      expect(await ids({ prefix: 'b/' })).toEqual(['b/1', 'b/2', 'b/3']);
      expect(await ids({ prefix: 'b/', after: 'b/1' })).toEqual(['b/2', 'b/3']);
      expect(await ids({ prefix: 'b/', reverse: true, limit: 2 })).toEqual(['b/3', 'b/2']);
      expect(await ids({ prefix: 'b/', reverse: true, after: 'b/2' })).toEqual(['b/1']);
      expect(await ids({ after: 'a/1', limit: 1 })).toEqual(['b/1']);
      expect((await store.getControl('other', 'b/1'))?.value).toEqual({ id: 'b/1', at: 1 });
      await store.write({ control: { delete: [{ kind: 'entry', id: 'b/2' }] } });
      expect(await store.getControl('entry', 'b/2')).toBeUndefined();
      expect(await ids({ prefix: 'b/' })).toEqual(['b/1', 'b/3']);
      await store.close();
    });

    it('applies a non-durable write atomically, like any other', async () => {
      const store = await open();
      await store.write({ histories: [{ namespace: 'default', runId: 'r1', events: [ev(1)] }] }, { durable: false });
      await store.write({ histories: [{ namespace: 'default', runId: 'r1', events: [ev(2)] }] });
      expect((await store.readHistory('default', 'r1')).map((e) => e.eventId)).toEqual([1, 2]);
      await store.close();
    });

    it('refuses use after close with AION_STORE_CLOSED', async () => {
      const store = await open();
      await store.close();
      expect(await codeOf(store.readHistory('default', 'r1'))).toBe('AION_STORE_CLOSED');
      expect(await codeOf(store.write({ histories: [{ namespace: 'default', runId: 'r1', events: [ev(1)] }] }))).toBe(
        'AION_STORE_CLOSED',
      );
    });

    it('round-trips payloads exactly: __proto__ and constructor keys, -0, large integers, lone surrogates, deep nesting', async () => {
      // Built from JSON text, as payloads arrive: `__proto__` is an own key, not the prototype.
      const text = `{"__proto__":{"polluted":true},"constructor":{"prototype":1},"negativeZero":-0,"big":12345678901234567890,"max":9007199254740993,"lone":"\\ud800x\\udfff","emoji":"\u{1F600}","deep":${'['.repeat(100)}1${']'.repeat(100)}}`;
      const payload = JSON.parse(text) as Record<string, unknown>;
      expect(Object.keys(payload)).toContain('__proto__');
      let store = await open();
      await store.write({ histories: [{ namespace: 'default', runId: 'p1', events: [ev(1, 'Payload', { payload })] }] });
      const check = async () => {
        const [event] = (await store.readHistory('default', 'p1')) as unknown as { payload: Record<string, unknown> }[];
        expect(JSON.stringify(event.payload)).toBe(JSON.stringify(payload));
        expect(Object.keys(event.payload)).toEqual(Object.keys(payload));
        expect(({} as Record<string, unknown>).polluted).toBeUndefined();
      };
      await check();
      if (reopen) {
        store = await reopen(store);
        await check();
      }
      await store.close();
    });

    it('refuses a value it cannot encode with AION_STORE_INVALID_VALUE, writing nothing of the batch', async () => {
      const store = await open();
      const code = await codeOf(
        store.write({ runs: [{ record: run('bad') }], histories: [{ namespace: 'default', runId: 'bad', events: [ev(1, 'X', { n: 10n })] }] }),
      );
      expect(code).toBe('AION_STORE_INVALID_VALUE');
      expect(await store.getRun('default', 'bad')).toBeUndefined();
      await store.write({ histories: [{ namespace: 'default', runId: 'bad', events: [ev(1)] }] });
      expect(await store.readHistory('default', 'bad')).toHaveLength(1);
      await store.close();
    });

    it('keeps quarantine records until they are deleted', async () => {
      const store = await open();
      const record = { namespace: 'default', runId: 'r1', reason: 'damaged', key: 'd/x', at: 5 };
      await store.write({ quarantine: { put: [record] } });
      expect(await store.listQuarantined()).toEqual([record]);
      await store.write({ quarantine: { delete: [{ namespace: 'default', runId: 'r1' }] } });
      expect(await store.listQuarantined()).toEqual([]);
      await store.close();
    });

    it('is available for writes until a write fails', async () => {
      const store = await open();
      expect(store.unavailable).toBeUndefined();
      await store.close();
    });

    it.skipIf(!reopen)('keeps everything acknowledged across a reopen, including the next event id', async () => {
      let store = await open();
      await store.write({
        runs: [{ record: run('r1') }],
        histories: [{ namespace: 'default', runId: 'r1', events: [ev(1), ev(2)] }],
        dueEntries: { put: [{ dueAt: 10, namespace: 'default', owner: 'r1', key: 'timer:1' }] },
      });
      store = await reopen!(store);
      expect(await store.nextEventId('default', 'r1')).toBe(3);
      expect(await codeOf(store.write({ histories: [{ namespace: 'default', runId: 'r1', events: [ev(2)] }] }))).toBe(
        'AION_STORE_CONFLICT',
      );
      expect((await store.getRun('default', 'r1'))?.status).toBe('Running');
      expect(await store.dueEntries(10)).toHaveLength(1);
      await store.close();
    });
  });
}
