/**
 * The divergence matrix: each kind of code change, made to a workflow whose history was
 * recorded, replayed with the default checks and with `strict`: detected or not, at which
 * event, with the source line of both sides and a hint; cosmetic changes and correct patches
 * are never flagged; `all` reports every divergence.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { bundleWorkflowCode } from '../../engine/bundler.js';
import { Engine } from '../../engine/engine.js';
import { DeterminismViolationError } from '../../engine/errors.js';
import type { HistoryEvent } from '../../engine/history/events.js';
import { replayHistory } from '../../engine/replay-history.js';
import { silentLogger, tempDir } from '../helpers.js';

const BASE = `import { executeChild, patched, proxyActivities, sleep, upsertSearchAttributes, uuid4 } from '@temporalio/workflow';

const { audit, charge, ship } = proxyActivities<{
  audit(id: string): Promise<void>;
  charge(id: string, amount: number, key: string): Promise<string>;
  ship(id: string, label: string): Promise<void>;
}>({ startToCloseTimeout: '1 minute' });

export async function order(id: string): Promise<string> {
  upsertSearchAttributes({ Stage: ['charging'] });
  const receipt = await charge(id, 10, uuid4()); // charge
  await sleep('10 ms'); // sleep
  const label = await executeChild(shipping, { args: [id], workflowId: \`ship-\${id}\` }); // child
  await ship(id, label); // ship
  return \`\${receipt} \${label}\`;
}

export async function shipping(id: string): Promise<string> {
  return \`label-\${id}\`;
}
`;

type Change = [from: string, to: string];
const dir = tempDir();
let history: HistoryEvent[];
let variantCount = 0;

/** The base workflow's source with `changes` made, bundled (and its file, for source locations). */
async function variant(...changes: Change[]): Promise<{ code: string; file: string; source: string }> {
  let source = BASE;
  for (const [from, to] of changes) {
    if (!source.includes(from)) throw new Error(`the base has no '${from}'`);
    source = source.replace(from, to);
  }
  const path = join(dir, `variant-${++variantCount}`, 'workflows.ts');
  mkdirSync(join(path, '..'), { recursive: true });
  writeFileSync(path, source);
  return { code: (await bundleWorkflowCode({ workflowsPath: path })).code, file: relative(process.cwd(), path), source };
}

/** `file:line` of the line holding `text`. */
const at = (file: string, source: string, text: string): string => `${file}:${source.split('\n').findIndex((line) => line.includes(text)) + 1}`;

async function divergenceIn(code: string, options: { strict?: boolean; all?: boolean; debug?: boolean } = {}): Promise<DeterminismViolationError | undefined> {
  return replayHistory({ code }, history, options).then(
    () => undefined,
    (error: unknown) => {
      if (!(error instanceof DeterminismViolationError)) throw error;
      return error;
    },
  );
}

const eventIndexOf = (type: string, field?: [string, unknown]) =>
  history.find((event) => event.type === type && (!field || (event as unknown as Record<string, unknown>)[field[0]] === field[1]))!.eventId;

let base: { file: string; source: string };

beforeAll(async () => {
  const bundle = await variant();
  base = bundle;
  const engine = await Engine.open({ logger: silentLogger, activities: { audit: async () => undefined, charge: async (id: string) => `paid-${id}`, ship: async () => undefined } });
  try {
    await engine.deploy({ code: bundle.code });
    const handle = await engine.start('order', { args: ['o1'], workflowId: 'o1' });
    await handle.result();
    history = await handle.history();
  } finally {
    await engine.close();
  }
});

// A debug replay (the workflow in this process's V8, for Node's inspector) must judge code that uses
// nothing only one of the two engines has exactly as a sandbox does.
describe.each([
  { mode: 'a QuickJS sandbox', debug: false },
  { mode: 'a debug realm', debug: true },
])('divergence reports, replayed in $mode', ({ debug }) => {
  const divergenceOf = (code: string, options: { strict?: boolean; all?: boolean } = {}) => divergenceIn(code, { ...options, debug });

  it('record where each command was made', () => {
    expect(history.find((event) => event.type === 'ActivityScheduled')?.callSite).toBe(at(base.file, base.source, '// charge'));
    expect(history.find((event) => event.type === 'TimerStarted')?.callSite).toBe(at(base.file, base.source, '// sleep'));
  });

  it('flag nothing for cosmetic changes, whatever the checks', async () => {
    const { code } = await variant(['const receipt', '// a comment\n  const paid'], ['`${receipt} ${label}`', '`${paid} ${label}`']);
    expect(await divergenceOf(code)).toBeUndefined();
    expect(await divergenceOf(code, { strict: true })).toBeUndefined();
  });

  it('flag nothing for new code behind patched()', async () => {
    const { code } = await variant(['  await ship(id, label); // ship', "  if (patched('audit')) await audit(id);\n  await ship(id, label); // ship"]);
    expect(await divergenceOf(code, { strict: true })).toBeUndefined();
  });

  it('flag a changed child workflow id by default, naming both lines', async () => {
    const changed = await variant(['workflowId: `ship-${id}`', 'workflowId: `shipping-${id}`']);
    const error = await divergenceOf(changed.code);
    expect(error).toMatchObject({
      eventIndex: eventIndexOf('ChildWorkflowStarted'),
      recordedAt: at(base.file, base.source, '// child'),
      producedAt: at(changed.file, changed.source, '// child'),
      hint: 'the target workflow id changed',
    });
  });

  it('flag an added call by default, where it was added', async () => {
    const changed = await variant(['  const receipt', '  await audit(id); // added\n  const receipt']);
    const error = await divergenceOf(changed.code);
    expect(error).toMatchObject({ eventIndex: eventIndexOf('ActivityScheduled', ['activityType', 'charge']), producedAt: at(changed.file, changed.source, '// added'), hint: 'a different activity is called here' });
  });

  it('flag a removed call by default', async () => {
    const changed = await variant(['  await ship(id, label); // ship\n', '']);
    const error = await divergenceOf(changed.code);
    expect(error).toMatchObject({ eventIndex: eventIndexOf('ActivityScheduled', ['activityType', 'ship']), recordedAt: at(base.file, base.source, '// ship') });
    expect(error?.hint).toMatch(/added, removed or reordered/);
  });

  it('say a call was replaced, not that another activity is called, when a timer took an activity’s place', async () => {
    const changed = await variant(['  await ship(id, label); // ship', "  await sleep('1 ms'); // ship"]);
    const error = await divergenceOf(changed.code);
    expect(error?.divergences[0]).toMatchObject({ eventType: 'ActivityScheduled', hint: 'a call was added, removed or reordered before this point (an await, or a branch)' });
  });

  it.each<[string, Change, string, string]>([
    ['activity arguments', ['charge(id, 10,', 'charge(id, 20,'], 'ActivityScheduled', 'args'],
    ['a timer duration', ["sleep('10 ms')", "sleep('20 ms')"], 'TimerStarted', 'durationMs'],
    ['child arguments', ['args: [id]', 'args: [`${id}!`]'], 'ChildWorkflowStarted', 'args'],
    ['a search attribute value', ["Stage: ['charging']", "Stage: ['paying']"], 'SearchAttributesUpserted', 'attributes'],
    ['the result', ['`${receipt} ${label}`', '`${label} ${receipt}`'], 'WorkflowCompleted', 'result'],
  ])('flag changed %s only when strict', async (_what, change, eventType, field) => {
    const { code } = await variant(change);
    expect(await divergenceOf(code)).toBeUndefined();
    expect(await divergenceOf(code, { strict: true })).toMatchObject({ eventIndex: eventIndexOf(eventType), hint: `its ${field} changed (checked by a strict replay)` });
  });

  it('say a random draw moved when only random values differ', async () => {
    const changed = await variant(['  const receipt', '  Math.random(); // a new draw\n  const receipt']);
    expect(await divergenceOf(changed.code)).toBeUndefined();
    expect(await divergenceOf(changed.code, { strict: true })).toMatchObject({
      eventIndex: eventIndexOf('ActivityScheduled', ['activityType', 'charge']),
      hint: 'a random draw (Math.random, uuid4) was added or removed before this point',
    });
  });

  it('report every divergence with all, each with its lines', async () => {
    const changed = await variant(['charge(id, 10,', 'charge(id, 20,'], ["sleep('10 ms')", "sleep('20 ms')"], ["Stage: ['charging']", "Stage: ['paying']"]);
    const error = await divergenceOf(changed.code, { strict: true, all: true });
    expect(error?.divergences.map((d) => [d.eventIndex, d.producedAt])).toEqual([
      [eventIndexOf('SearchAttributesUpserted'), at(changed.file, changed.source, 'upsertSearchAttributes({')],
      [eventIndexOf('ActivityScheduled', ['activityType', 'charge']), at(changed.file, changed.source, '// charge')],
      [eventIndexOf('TimerStarted'), at(changed.file, changed.source, '// sleep')],
    ]);
    expect(error?.message).toMatch(/\(and 2 more divergences\)$/);
    // Without all, the first only.
    expect((await divergenceOf(changed.code, { strict: true }))?.divergences).toHaveLength(1);
  });

  it('stop at a call that differs, with all: what would follow is only its echo', async () => {
    const changed = await variant(['  const receipt', '  await audit(id); // added\n  const receipt'], ["sleep('10 ms')", "sleep('20 ms')"]);
    const error = await divergenceOf(changed.code, { strict: true, all: true });
    expect(error?.divergences).toHaveLength(1);
    expect(error?.divergences[0]).toMatchObject({ eventIndex: eventIndexOf('ActivityScheduled', ['activityType', 'charge']), hint: 'a different activity is called here' });
  });
});
