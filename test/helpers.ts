import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach } from 'vitest';
import { bundleWorkflowCode } from '../engine/bundler.js';
import { Engine, type EngineOptions } from '../engine/engine.js';
import type { WorkflowHandle } from '../engine/handle.js';
import { replayHistory } from '../engine/replay.js';
import { fixture, silentLogger } from './helpers-node.js';

export { fixture, silentLogger };

const bundles = new Map<string, Promise<string>>();
/** The bundled code of a fixture workflow file (built once per test file). */
export function fixtureBundle(name = 'workflows.ts'): Promise<string> {
  let code = bundles.get(name);
  if (!code) {
    code = bundleWorkflowCode({ workflowsPath: fixture(name) }).then((bundle) => bundle.code);
    bundles.set(name, code);
  }
  return code;
}

export const tempDir = (prefix = 'aion-test-'): string => mkdtempSync(join(tmpdir(), prefix));

const open: Engine[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((engine) => engine.close()));
});

/** An engine (in memory unless `dataDir` is given) with the fixture bundle deployed; closed after the test. */
export async function openEngine(options: EngineOptions = {}, bundle = 'workflows.ts'): Promise<Engine> {
  const engine = await Engine.open({ logger: silentLogger, ...options });
  open.push(engine);
  await engine.deploy({ code: await fixtureBundle(bundle) });
  return engine;
}

/** Every run of these handles' workflows (all runs of a continue-as-new chain) replays against the bundle. */
export async function expectReplays(engine: Engine, bundle: string, workflowIds: string[]): Promise<number> {
  const code = await fixtureBundle(bundle);
  let replayed = 0;
  const wanted = new Set(workflowIds);
  for (const summary of await engine.list({})) {
    if (!wanted.has(summary.workflowId)) continue;
    await replayHistory({ code }, await engine.getHandle(summary.workflowId, summary.runId).history());
    replayed++;
  }
  return replayed;
}

export type { WorkflowHandle };
