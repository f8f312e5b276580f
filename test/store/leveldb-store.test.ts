import { readdirSync, readFileSync, statSync, truncateSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ClassicLevel } from 'classic-level';
import { pack } from 'msgpackr';
import { describe, expect, it } from 'vitest';
import { DEFAULT_PARTITIONS, openLevelDbStore, runIdFor, StoreError, type EventStore, type StoredEvent } from '../../store/index.js';
import { LAYOUT_FILE } from '../../store/open.js';
import { runChild } from '../child-process.js';
import { tempDir } from '../helpers.js';
import { encodeValue } from '../../store/codec.js';
import { eventStoreConformance } from './event-store.case.js';

const CHILD = fileURLToPath(new URL('./store-child.ts', import.meta.url));

const dirs = new WeakMap<EventStore, string>();
const openAt = async (dir: string, partitions: number) => {
  const store = await openLevelDbStore(dir, { partitions });
  dirs.set(store, dir);
  return store;
};

for (const partitions of [1, 4]) {
  eventStoreConformance({
    name: `LevelDB, ${partitions} partition${partitions === 1 ? '' : 's'}`,
    open: () => openAt(tempDir('aion-store-'), partitions),
    reopen: async (store) => {
      await store.close();
      return openAt(dirs.get(store)!, partitions);
    },
  });
}

const ev = (eventId: number): StoredEvent => ({ eventId, type: 'Test' });

async function codeOf(promise: Promise<unknown>): Promise<string | undefined> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (error === undefined) return undefined;
  expect(error).toBeInstanceOf(StoreError);
  return (error as StoreError).code;
}

/** A folder whose LevelDB log holds `count` confirmed writes, one per run. */
async function folderWithWrites(count: number): Promise<string> {
  const dir = tempDir('aion-store-');
  const store = await openLevelDbStore(dir, { partitions: 1 });
  for (let i = 0; i < count; i++) await store.write({ histories: [{ namespace: 'default', runId: `r${i}`, events: [ev(1)] }] });
  await store.close();
  return dir;
}

const logFile = (dir: string): string => {
  const log = readdirSync(dir).find((name) => name.endsWith('.log'));
  if (!log) throw new Error(`no LevelDB log in ${dir}`);
  return join(dir, log);
};

describe('LevelDB store: the data-folder lock', () => {
  it('refuses a second open in the same process before LevelDB is touched, and keeps the folder locked for other processes', async () => {
    const dir = tempDir('aion-store-');
    const store = await openLevelDbStore(dir, { partitions: 1 });
    const error = await openLevelDbStore(dir, { partitions: 1 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StoreError);
    expect((error as StoreError).code).toBe('AION_STORE_LOCKED');
    expect((error as StoreError).message).toContain(dir);
    // The failed open released nothing: another process is still refused.
    const other = runChild(CHILD, ['try', dir]);
    expect(await other.line(/^(opened|refused)/)).toBe('refused AION_STORE_LOCKED');
    await store.close();
    const after = runChild(CHILD, ['try', dir]);
    expect(await after.line(/^(opened|refused)/)).toBe('opened');
  });

  it('takes over the lock of a process that was killed', async () => {
    const dir = tempDir('aion-store-');
    const holder = runChild(CHILD, ['hold', dir]);
    await holder.line(/^held$/);
    expect(await codeOf(openLevelDbStore(dir, { partitions: 1 }))).toBe('AION_STORE_LOCKED');
    holder.process.kill('SIGKILL');
    await holder.exited;
    const store = await openLevelDbStore(dir);
    await store.close();
  });

  it('names a data folder that is a file', async () => {
    const file = join(tempDir('aion-store-'), 'not-a-folder');
    writeFileSync(file, 'x');
    await expect(openLevelDbStore(file)).rejects.toThrow(`the data folder ${file} is a file, not a folder`);
  });
});

describe('LevelDB store: a damaged log', () => {
  it('refuses to open a folder whose log lost confirmed writes to a flipped byte, naming them', async () => {
    // Several 32 KiB log blocks: LevelDB drops the rest of the damaged block and reads on after it.
    const dir = await folderWithWrites(1000);
    const log = logFile(dir);
    const bytes = readFileSync(log);
    bytes[Math.floor(bytes.length / 3)] ^= 0xff;
    writeFileSync(log, bytes);
    const error = (await openLevelDbStore(dir, { partitions: 1 }).catch((e: unknown) => e)) as StoreError;
    expect(error.code).toBe('AION_STORE_DAMAGED');
    expect(error.message).toMatch(/confirmed write\(s\) are missing from its log \(commits \d+/);
    expect(error.message).toMatch(/Restore it from a backup/);
  });

  it('refuses to open a folder whose log lost its tail, and opens it with acceptDataLoss', async () => {
    const dir = await folderWithWrites(300);
    const log = logFile(dir);
    truncateSync(log, Math.floor(statSync(log).size * 0.6));
    const error = (await openLevelDbStore(dir, { partitions: 1 }).catch((e: unknown) => e)) as StoreError;
    expect(error.code).toBe('AION_STORE_DAMAGED');
    expect(error.message).toMatch(/its log ends at commit \d+ but commit 300 was confirmed/);

    const reported: string[] = [];
    const store = await openLevelDbStore(dir, { acceptDataLoss: true, onDataLossAccepted: (damage) => reported.push(damage) });
    expect(reported).toHaveLength(1);
    expect(await store.readHistory('default', 'r0')).toHaveLength(1);
    expect(await store.readHistory('default', 'r299')).toHaveLength(0);
    await store.write({ histories: [{ namespace: 'default', runId: 'after', events: [ev(1)] }] });
    await store.close();
    // What survived is the new baseline: the next open checks from there.
    const reopened = await openLevelDbStore(dir, { partitions: 1 });
    expect(await reopened.readHistory('default', 'after')).toHaveLength(1);
    await reopened.close();
  });
});

describe('LevelDB store: damaged records', () => {
  it('skips and reports a damaged record in a scan, and names it when it is read', async () => {
    const dir = tempDir('aion-store-');
    const store = await openLevelDbStore(dir, { partitions: 1 });
    const entry = (owner: string) => ({ dueAt: 10, namespace: 'default', owner, key: 'timer:1' });
    await store.write({ dueEntries: { put: [entry('good'), entry('bad')] } });
    await store.write({ runs: [{ record: { namespace: 'default', workflowId: 'w', runId: 'bad', workflowType: 't', version: 'v', taskQueue: 'q', status: 'Running', startTime: 1 } }] });
    await store.close();
    const raw = new ClassicLevel<string, Uint8Array>(dir, { keyEncoding: 'utf8', valueEncoding: 'view' });
    for await (const [key, value] of raw.iterator()) {
      if (key.includes('bad')) await raw.put(key, Uint8Array.from([...value.subarray(0, value.length - 1), value[value.length - 1] ^ 1]));
    }
    await raw.close();

    const reopened = await openLevelDbStore(dir, { partitions: 1 });
    const damaged: { key: string; kind: string; runId?: string }[] = [];
    reopened.events.on('damaged', ({ key, kind, runId }) => damaged.push({ key, kind, runId }));
    expect((await reopened.dueEntries(100)).map((e) => e.owner)).toEqual(['good']);
    expect(damaged).toEqual([{ key: 'd/000000000000010/default/bad/timer:1', kind: 'due', runId: 'bad' }]);
    const error = (await reopened.getRun('default', 'bad').catch((e: unknown) => e)) as StoreError;
    expect(error.code).toBe('AION_STORE_CORRUPT');
    expect(error.message).toBe('the record r/default/bad is damaged: its checksum does not match');
    await reopened.close();
  });

  it('reads values written before records carried checksums', async () => {
    const dir = tempDir('aion-store-');
    const raw = new ClassicLevel<string, Uint8Array>(dir, { keyEncoding: 'utf8', valueEncoding: 'view' });
    await raw.put('h\u0000default\u0000old\u00000000000001', pack([{ eventId: 1, type: 'Old' }]));
    await raw.close();
    const store = await openLevelDbStore(dir, { partitions: 1 });
    expect(await store.readHistory('default', 'old')).toEqual([{ eventId: 1, type: 'Old' }]);
    await store.close();
  });
});

describe('LevelDB store: due entries', () => {
  it('finds due entries keyed before a fraction of a millisecond was rounded up (they sorted after every other, so no read reached them)', async () => {
    const dir = tempDir('aion-store-');
    await (await openLevelDbStore(dir, { partitions: 1 })).close();
    const entry = { dueAt: 1_700_000_000_100.5, namespace: 'default', owner: 'r1', key: 'timer:1' };
    const db = new ClassicLevel<string, Uint8Array>(dir, { keyEncoding: 'utf8', valueEncoding: 'view' });
    await db.put(['d', String(entry.dueAt), 'default', 'r1', 'timer:1'].join('\u0000'), encodeValue(entry));
    await db.close();
    const store = await openLevelDbStore(dir);
    expect(await store.dueEntries(1_700_000_000_101)).toEqual([entry]);
    await store.write({ dueEntries: { delete: [entry] } });
    expect(await store.nextDueEntry()).toBeUndefined();
    await store.close();
  });
});

describe('LevelDB store: search attribute indexes', () => {
  it('keeps one entry per indexed value, moves it with the value and drops it with a purge', async () => {
    const dir = tempDir('aion-store-');
    const entries = async () => {
      const raw = new ClassicLevel<string, Uint8Array>(dir, { keyEncoding: 'utf8', valueEncoding: 'view' });
      const found: string[] = [];
      for await (const key of raw.keys({ gte: 'x\u0000', lt: 'x\u0001' })) found.push(key.split('\u0000').slice(2).join('/'));
      await raw.close();
      return found;
    };
    const record = (searchAttributes: Record<string, unknown>) => ({ namespace: 'default', workflowId: 'wf', runId: 'r1', workflowType: 'order', version: 'v1', taskQueue: 'default', status: 'Running' as const, startTime: 7, searchAttributes });
    let store = await openLevelDbStore(dir, { partitions: 1 });
    await store.write({ runs: [{ record: record({ Customer: 'ann', Vip: true, Tags: ['a'], Note: 'n\u0000ul', Long: 'x'.repeat(257) }) }] });
    await store.close();
    expect(await entries()).toEqual(['Customer/sann/000000000000007/r1', 'Vip/btrue/000000000000007/r1']);
    store = await openLevelDbStore(dir, { partitions: 1 });
    await store.write({ runs: [{ record: record({ Customer: 'bob', Vip: true }), previousStatus: 'Running', previousSearchAttributes: { Customer: 'ann', Vip: true } }] });
    await store.close();
    expect(await entries()).toEqual(['Customer/sbob/000000000000007/r1', 'Vip/btrue/000000000000007/r1']);
    store = await openLevelDbStore(dir, { partitions: 1 });
    // A cursor from another index (another query's page) is refused, not taken as a position in this one.
    await store.write({ runs: [{ record: { ...record({ Customer: 'bob' }), runId: 'r2', workflowId: 'wf2' } }] });
    const byType = await store.scanRuns({ namespace: 'default', workflowType: 'order', pageSize: 1 });
    const foreign = store.scanRuns({ namespace: 'default', attribute: { name: 'Customer', value: 'bob' }, pageSize: 1, cursor: byType.nextCursor });
    await expect(foreign).rejects.toThrow('the cursor is not a position in the index this query reads: page again from the start');
    await store.write({ purgeRuns: [{ namespace: 'default', runId: 'r1' }, { namespace: 'default', runId: 'r2' }] });
    await store.close();
    expect(await entries()).toEqual([]);
  });
});

describe('LevelDB store: partitions', () => {
  it('records the partition count of a new folder and refuses to open it with another', async () => {
    const dir = tempDir('aion-store-');
    const store = await openLevelDbStore(dir);
    await store.write({ histories: [{ namespace: 'default', runId: runIdFor('default', 'wf'), events: [ev(1)] }] });
    await store.close();
    expect(JSON.parse(readFileSync(join(dir, LAYOUT_FILE), 'utf8'))).toEqual({ partitions: DEFAULT_PARTITIONS });
    expect(readdirSync(dir).filter((name) => /^p\d\d$/.test(name))).toHaveLength(DEFAULT_PARTITIONS);
    const error = (await openLevelDbStore(dir, { partitions: 8 }).catch((e: unknown) => e)) as StoreError;
    expect(error.code).toBe('AION_STORE_LAYOUT');
    expect(error.message).toBe(
      `the data folder ${dir} was created with ${DEFAULT_PARTITIONS} partitions and cannot be opened with 8: a folder keeps its partition count (leave the option out to open it as it is)`,
    );
    // Refused before anything was opened: the folder opens as it is, afterwards too.
    const reopened = await openLevelDbStore(dir, { partitions: DEFAULT_PARTITIONS });
    await reopened.close();
  });

  it('opens a folder from before partitions as one partition', async () => {
    const dir = await folderWithWrites(3);
    unlinkSync(join(dir, LAYOUT_FILE));
    expect(await codeOf(openLevelDbStore(dir, { partitions: 4 }))).toBe('AION_STORE_LAYOUT');
    const store = await openLevelDbStore(dir);
    expect(await store.readHistory('default', 'r2')).toEqual([ev(1)]);
    await store.close();
  });

  it('takes only powers of two up to 256', async () => {
    for (const partitions of [0, 3, 512, 1.5]) {
      await expect(openLevelDbStore(tempDir('aion-store-'), { partitions })).rejects.toThrow(`partitions must be a power of two from 1 to 256, got ${partitions}`);
    }
  });
});
