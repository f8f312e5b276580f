/** Visibility: search attributes, list filters and predicates, paging, counting, rebuilding. */
import { ClassicLevel } from 'classic-level';
import { describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '../../engine/errors.js';
import { Engine } from '../../engine/engine.js';
import type { HistoryEvent } from '../../engine/history/events.js';
import { openMemoryStore } from '../../store/open.js';
import { databasesOf, fixtureBundle, openEngine, silentLogger, tempDir } from '../helpers.js';

const BUNDLE = 'semantics.ts';

describe('search attributes and list', () => {
  it('keeps attributes from the start and from upserts, visible in describe, list and workflowInfo', async () => {
    const engine = await openEngine({}, BUNDLE);
    const handle = await engine.start('tagged', { args: [42], workflowId: 't1', searchAttributes: { Region: 'eu-west', Started: '2026-11-27T10:00:00Z' } });
    await handle.signal('go'); // resolves once the activation with the second upsert is recorded
    const expected = { Region: 'eu-west', Started: '2026-11-27T10:00:00Z', Stage: 'waiting', Amount: 42, Tags: ['vip', 'eu'] };
    expect(await handle.query('info')).toEqual(expected);
    expect((await handle.describe()).searchAttributes).toEqual(expected);
    expect((await engine.list({ searchAttributes: { Stage: 'waiting' } })).map((w) => w.searchAttributes)).toEqual([expected]);
    await handle.terminate();
  });

  it('filters by status, type, time ranges and attribute predicates (=, <, >, contains)', async () => {
    const engine = await openEngine({}, BUNDLE);
    for (const amount of [10, 20, 30]) await engine.start('tagged', { args: [amount], workflowId: `a${amount}` });
    // The time boundary must fall between the recorded starts: let the clock pass a30's start.
    const lastStart = (await engine.getHandle('a30').describe()).startTime.getTime();
    while (Date.now() <= lastStart) await new Promise((resolve) => setImmediate(resolve));
    const before = Date.now();
    await (await engine.start('patient', { args: [1], workflowId: 'done', searchAttributes: { Amount: 99 } })).result();
    for (const id of ['a10', 'a20', 'a30']) await engine.getHandle(id).signal('go');
    const ids = async (query: Parameters<Engine['list']>[0]) => (await engine.list(query)).map((w) => w.workflowId);
    expect(await ids({ searchAttributes: { Amount: 20 } })).toEqual(['a20']);
    expect(await ids({ searchAttributes: { Amount: { eq: 20 } } })).toEqual(['a20']);
    expect(await ids({ searchAttributes: { Amount: { gt: 10, lt: 99 } } })).toEqual(['a30', 'a20']);
    expect(await ids({ searchAttributes: { Tags: { contains: 'vip' }, Amount: { lt: 15 } } })).toEqual(['a10']);
    expect(await ids({ searchAttributes: { Stage: { contains: 'WAIT' } } })).toEqual(['a30', 'a20', 'a10']);
    expect(await ids({ status: 'Completed' })).toEqual(['done']);
    expect(await ids({ workflowType: 'tagged', status: 'Running' })).toEqual(['a30', 'a20', 'a10']);
    expect(await ids({ startTime: { from: before } })).toEqual(['done']);
    expect(await ids({ closeTime: { from: new Date(before) } })).toEqual(['done']);
    expect(await ids({ startTime: { to: before - 1 }, searchAttributes: { Amount: { gt: 15 } } })).toEqual(['a30', 'a20']);
    expect(await engine.count({ workflowType: 'tagged' })).toBe(3);
    await expect(engine.list({ searchAttributes: { Amount: { between: [1, 2] } as never } })).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(engine.list({ startTime: { from: 'yesterday' } })).rejects.toThrow(/startTime.from is not a time/);
    await expect(engine.start('patient', { searchAttributes: { Bad: { nested: true } as never } })).rejects.toThrow(/search attribute 'Bad'/);
  });

  it('pages newest first with a token', async () => {
    const engine = await openEngine({}, BUNDLE);
    for (let i = 0; i < 5; i++) await (await engine.start('patient', { args: [1], workflowId: `p${i}` })).result();
    const first = await engine.listPage({ pageSize: 2 });
    expect(first.workflows.map((w) => w.workflowId)).toEqual(['p4', 'p3']);
    const second = await engine.listPage({ pageSize: 2, nextPageToken: first.nextPageToken });
    expect(second.workflows.map((w) => w.workflowId)).toEqual(['p2', 'p1']);
    const third = await engine.listPage({ pageSize: 2, nextPageToken: second.nextPageToken });
    expect(third.workflows.map((w) => w.workflowId)).toEqual(['p0']);
    expect(third.nextPageToken).toBeUndefined();
    // A token pages the query that returned it (however it is spelled), and no other.
    const since = await engine.listPage({ pageSize: 2, startTime: { from: new Date(0) } });
    expect((await engine.listPage({ pageSize: 2, startTime: { from: '1970-01-01T00:00:00Z' }, nextPageToken: since.nextPageToken })).workflows.map((w) => w.workflowId)).toEqual(['p2', 'p1']);
    await expect(engine.listPage({ pageSize: 2, workflowType: 'patient', nextPageToken: first.nextPageToken })).rejects.toThrow('nextPageToken was given for another query: page with the query that returned it');
    await expect(engine.listPage({ nextPageToken: 'not a token' })).rejects.toThrow('nextPageToken is not a page token of list');
  });

  it('rebuilds the visibility records from the histories', async () => {
    const store = await openMemoryStore<HistoryEvent>();
    const engine = await Engine.open({ store, logger: silentLogger });
    try {
      await engine.deploy({ code: await fixtureBundle(BUNDLE) });
      const handle = await engine.start('tagged', { args: [7], workflowId: 'r1' });
      await handle.signal('go');
      await handle.terminate();
      // Lose the visible state of the run: an old record, as if the index had not been kept.
      const record = (await store.getRun('default', handle.runId!))!;
      await store.write({ runs: [{ record: { ...record, status: 'Running', searchAttributes: {} }, previousStatus: 'Terminated' }] });
      expect(await engine.count({ searchAttributes: { Amount: 7 } })).toBe(0);
      expect(await engine.rebuildVisibility()).toBe(1);
      expect((await engine.list({ searchAttributes: { Amount: 7 } })).map((w) => w.status)).toEqual(['Terminated']);
      expect(await engine.count({ status: 'Running' })).toBe(0);
    } finally {
      await engine.close();
      await store.close();
    }
  });
});

describe('indexes', () => {
  it('gives a data folder from before the type, status and search attribute indexes their entries on its first open', async () => {
    const dataDir = tempDir();
    const first = await Engine.open({ dataDir, logger: silentLogger });
    await first.deploy({ code: await fixtureBundle(BUNDLE) });
    for (let i = 0; i < 3; i++) await (await first.start('patient', { args: [1], workflowId: `p${i}`, searchAttributes: { Customer: i === 1 ? 'bob' : 'ann' } })).result();
    await first.start('waitsForever', { workflowId: 'w' });
    await first.close();
    // As an older version left it: no entries in the type (y), status (z) and attribute (x) indexes, no record of indexing them.
    let removed = 0;
    for (const folder of databasesOf(dataDir)) {
      const raw = new ClassicLevel<string, Uint8Array>(folder, { keyEncoding: 'utf8', valueEncoding: 'view' });
      for await (const key of raw.keys()) {
        if (!['y\u0000', 'z\u0000', 'x\u0000', 'm\u0000migration\u0000visibility'].some((prefix) => key.startsWith(prefix))) continue;
        await raw.del(key);
        removed++;
      }
      await raw.close();
    }
    expect(removed).toBeGreaterThan(8);

    const second = await Engine.open({ dataDir, logger: silentLogger });
    try {
      expect((await second.list({ workflowType: 'patient' })).map((w) => w.workflowId)).toEqual(['p2', 'p1', 'p0']);
      expect((await second.list({ status: 'Running' })).map((w) => w.workflowId)).toEqual(['w']);
      expect((await second.list({ searchAttributes: { Customer: 'ann' } })).map((w) => w.workflowId)).toEqual(['p2', 'p0']);
      const page = await second.listPage({ status: 'Completed', workflowType: 'patient', pageSize: 2 });
      expect(page.workflows.map((w) => w.workflowId)).toEqual(['p2', 'p1']);
      expect((await second.listPage({ status: 'Completed', workflowType: 'patient', pageSize: 2, nextPageToken: page.nextPageToken })).workflows.map((w) => w.workflowId)).toEqual(['p0']);
      await second.getHandle('w').terminate();
      expect(await second.count({ status: 'Terminated' })).toBe(1);
    } finally {
      await second.close();
    }
  });

  it('lists by a search attribute\'s value from its index, following upserts', async () => {
    const dataDir = tempDir();
    const engine = await Engine.open({ dataDir, logger: silentLogger });
    await engine.deploy({ code: await fixtureBundle(BUNDLE) });
    // 'tagged' upserts Stage: 'charging', Amount, Tags and Note at once, and Stage: 'waiting' without Note after 'go'.
    const region = (i: number) => (i % 2 === 0 ? 'eu-west' : 'us-east');
    for (let i = 0; i < 5; i++) await engine.start('tagged', { args: [i], workflowId: `t${i}`, searchAttributes: { Region: region(i) } });
    await engine.getHandle('t3').signal('go');
    const ids = async (query: Parameters<Engine['list']>[0]) => (await engine.list(query)).map((w) => w.workflowId);
    expect(await ids({ searchAttributes: { Region: 'eu-west' } })).toEqual(['t4', 't2', 't0']);
    expect(await ids({ searchAttributes: { Region: { eq: 'us-east' }, Amount: 3 } })).toEqual(['t3']);
    expect(await ids({ searchAttributes: { Amount: 3 } })).toEqual(['t3']);
    expect(await ids({ searchAttributes: { Amount: '3' } })).toEqual([]);
    expect(await ids({ searchAttributes: { Stage: 'waiting' } })).toEqual(['t3']);
    // The first predicate has no index (a list): the second's is read.
    expect(await ids({ searchAttributes: { Tags: ['vip', 'eu'], Region: 'us-east' } })).toEqual(['t3', 't1']);
    expect(await engine.count({ searchAttributes: { Note: 'Priority customer' } })).toBe(4);
    const first = await engine.listPage({ searchAttributes: { Region: 'eu-west' }, pageSize: 2 });
    const second = await engine.listPage({ searchAttributes: { Region: 'eu-west' }, pageSize: 2, nextPageToken: first.nextPageToken });
    expect([...first.workflows, ...second.workflows].map((w) => w.workflowId)).toEqual(['t4', 't2', 't0']);
    expect(second.nextPageToken).toBeUndefined();
    await engine.close();

    // The index holds each run's current values only, one entry per string or number (Tags, a list, is not indexed).
    const entries: string[] = [];
    for (const folder of databasesOf(dataDir)) {
      const raw = new ClassicLevel<string, Uint8Array>(folder, { keyEncoding: 'utf8', valueEncoding: 'view' });
      for await (const key of raw.keys({ gte: 'x\u0000', lt: 'x\u0001' })) entries.push(key.split('\u0000').slice(2, 4).join('='));
      await raw.close();
    }
    const expected = [0, 1, 2, 3, 4].flatMap((i) => [`Region=s${region(i)}`, `Amount=n${i}`, ...(i === 3 ? ['Stage=swaiting'] : ['Stage=scharging', 'Note=sPriority customer'])]);
    expect(entries.sort()).toEqual(expected.sort());
  });
});

describe('signalWithStart', () => {
  it('starts the workflow with the signal delivered in its first activation, then signals the running run', async () => {
    const engine = await openEngine({});
    const first = await engine.signalWithStart('approval', { workflowId: 'sws', signal: 'approve', signalArgs: ['ann'] });
    expect(await first.query('status')).toBe('approved by ann');
    const history = await first.history();
    expect(history.slice(0, 3).map((e) => e.type)).toEqual(['WorkflowStarted', 'SignalReceived', 'WorkflowTaskCompleted']);
    const second = await engine.signalWithStart('approval', { workflowId: 'sws', signal: 'approve', signalArgs: ['bob'] });
    expect(second.runId).toBe(first.runId);
    expect((await first.history()).filter((e) => e.type === 'SignalReceived')).toHaveLength(2);
    await expect(engine.signalWithStart('approval', {} as never)).rejects.toThrow(/needs a workflowId/);
    await first.terminate();
  });
});
