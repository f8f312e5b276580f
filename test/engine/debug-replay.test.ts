/**
 * Debug replays (`replayHistory(…, { debug })`): what a QuickJS sandbox shrugs off must not
 * end the process (a workflow's un-awaited rejected promise), and what cannot be reached is
 * refused up front. The divergence matrix (divergence.test.ts) and the inspector test
 * (test/cli/debugger.test.ts) cover the rest.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { bundleWorkflowCode } from '../../engine/bundler.js';
import { Engine } from '../../engine/engine.js';
import { InvalidArgumentError } from '../../engine/errors.js';
import type { HistoryEvent } from '../../engine/history/events.js';
import { replayHistory } from '../../engine/replay-history.js';
import { runChild } from '../child-process.js';
import { fixture, silentLogger, suiteTempDir } from '../helpers.js';

const SOURCE = `import { sleep } from '@temporalio/workflow';

export async function floating(): Promise<string> {
  void Promise.reject(new Error('nobody awaits this'));
  await sleep('1 ms');
  return 'done';
}
`;

const dir = suiteTempDir('aion-debug-replay-');
let code: string;
let history: HistoryEvent[];

beforeAll(async () => {
  mkdirSync(join(dir, 'src'), { recursive: true });
  writeFileSync(join(dir, 'src', 'workflows.ts'), SOURCE);
  code = (await bundleWorkflowCode({ workflowsPath: join(dir, 'src', 'workflows.ts') })).code;
  const engine = await Engine.open({ logger: silentLogger });
  try {
    await engine.deploy({ code });
    const handle = await engine.start('floating');
    expect(await handle.result()).toBe('done');
    history = await handle.history();
  } finally {
    await engine.close();
  }
});

describe('debug replays', { timeout: 30_000 }, () => {
  it("replay a workflow whose un-awaited promise rejects, in a process of its own, as a sandbox does", async () => {
    writeFileSync(join(dir, 'bundle.js'), code);
    writeFileSync(join(dir, 'history.json'), JSON.stringify(history));
    const child = runChild(fixture('debug-replay-child.ts'), [join(dir, 'bundle.js'), join(dir, 'history.json')]);
    expect(await child.line(/reproduced/)).toBe('reproduced');
    expect((await child.exited).code).toBe(0);
  });

  it('refuse a break at an event the history does not have', async () => {
    await expect(replayHistory({ code }, history, { debug: { breakAtEvent: [2, history.length + 1] } })).rejects.toThrow(InvalidArgumentError);
    await expect(replayHistory({ code }, history, { debug: { breakAtEvent: 0 } })).rejects.toThrow(`the events to break at are events of the history (1 to ${history.length}), got 0`);
  });
});
