import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach } from 'vitest';
import { bundleWorkflowCode } from '../engine/bundler.js';
import { Engine, type EngineOptions } from '../engine/engine.js';
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
