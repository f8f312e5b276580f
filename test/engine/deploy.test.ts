/**
 * Building and deploying bundles: what is refused, with which message, and how versions work.
 */
import { describe, expect, it, onTestFinished } from 'vitest';
import { BundleError, bundleWorkflowCode } from '../../engine/bundler.js';
import { InvalidBundleError } from '../../engine/errors.js';
import { makeActivities } from '../fixtures/activities.js';
import { Engine } from '../../engine/engine.js';
import { fixture, fixtureBundle, openEngine, silentLogger } from '../helpers.js';

describe('bundleWorkflowCode', () => {
  it('refuses a Node built-in, naming the import and the importing file', async () => {
    const error = (await bundleWorkflowCode({ workflowsPath: fixture('uses-fs.ts') }).catch((e: unknown) => e)) as BundleError;
    expect(error).toBeInstanceOf(BundleError);
    expect(error.message).toContain("cannot import the Node built-in 'node:fs'");
    expect(error.message).toContain('uses-fs.ts');
  });

  it('refuses a missing entry', async () => {
    await expect(bundleWorkflowCode({ workflowsPath: fixture('nope.ts') })).rejects.toThrow(/workflow entry not found/);
  });

  it('runs a Temporal workflow unchanged (@temporalio/workflow is aliased)', async () => {
    const engine = await openEngine({ activities: makeActivities() }, 'temporal-port.ts');
    expect(await (await engine.start('ported', { args: [2] })).result()).toBe('ported:200');
  });
});

describe('deploy', () => {
  it('refuses a bundle that throws while evaluating, with the error', async () => {
    const engine = await openEngine();
    await expect(engine.deploy({ code: 'exports.wf = async () => 1;\nundefinedFunction();' })).rejects.toThrow(
      /the bundle failed to evaluate: ReferenceError: 'undefinedFunction' is not defined/,
    );
  });

  it('refuses a bundle that requires something else than the workflow API, naming it', async () => {
    const engine = await openEngine();
    const error = await engine.deploy({ code: "const fs = require('fs'); exports.wf = async () => 1;" }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InvalidBundleError);
    expect((error as Error).message).toContain("module 'fs' is not available in the workflow sandbox");
  });

  it('refuses a bundle that exports no workflow, and one that does not parse', async () => {
    const engine = await openEngine();
    await expect(engine.deploy({ code: 'exports.notAWorkflow = 42;' })).rejects.toThrow(/exports no workflow function/);
    await expect(engine.deploy({ code: 'exports.wf = async () => {' })).rejects.toThrow(/SyntaxError/);
  });

  it('refuses a bundle whose top level never ends', async () => {
    const engine = await openEngine({ limits: { cpuMsPerActivation: 100 } });
    await expect(engine.deploy({ code: 'for (;;) {}' })).rejects.toThrow(/cpu-budget|CPU budget/);
  });

  it('versions by content hash, idempotently, and pins runs to the version they started on', async () => {
    const engine = await openEngine();
    const code = await fixtureBundle();
    const first = await engine.deploy({ code });
    expect(await engine.deploy({ code })).toEqual(first);
    expect(first.workflowTypes).toEqual(expect.arrayContaining(['order', 'greet', 'approval']));
    const pinned = await engine.start('sleeper', { args: [60_000] });
    const v2 = await engine.deploy({ code: `${code}\n// v2` });
    expect(v2.version).not.toBe(first.version);
    expect((await pinned.describe()).version).toBe(first.version);
    expect((await (await engine.start('greet', { args: ['x'] })).describe()).version).toBe(v2.version);
    await pinned.terminate();
  });

  it('refuses a bundle that throws a Promise (not an Error) while evaluating, naming what it threw', async () => {
    const engine = await openEngine();
    const error = await engine.deploy({ code: 'exports.wf = async () => 1; throw new Promise(() => {});' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InvalidBundleError);
    expect((error as Error).message).toBe('the bundle failed to evaluate: Error: a value that is not an Error was thrown: {"type":"pending"}');
  });

  it('keeps only a few idle versions loaded in the sandbox threads, loading the others again on demand', { timeout: 60_000 }, async () => {
    // Not `openEngine`: its runs are not of the fixture bundle that engine replays after the test.
    const engine = await Engine.open({ logger: silentLogger });
    onTestFinished(() => engine.close());
    const loaded = async () => Number(/aion_sandbox_templates_loaded (\d+)/.exec(await engine.metrics.registry.metrics())![1]);
    const versions = [];
    for (let i = 0; i < 40; i++) versions.push((await engine.deploy({ code: `exports.v${i} = async function v${i}(n) { return n + ${i}; };` })).version);
    // Four idle versions per thread at most (two threads by default on a 2-core machine).
    expect(await loaded()).toBeLessThanOrEqual(4 * engine.sandboxThreads);
    expect(await (await engine.start('v0', { args: [1] })).result()).toBe(1);
    expect(await (await engine.start('v39', { args: [1] })).result()).toBe(40);
  });
});
