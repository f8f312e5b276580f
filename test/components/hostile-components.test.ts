/**
 * Untrusted components: each is refused at deploy, or fails only its own run, with a reason;
 * nothing of it reaches the host, and the engine goes on serving.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { Engine, WorkflowFailedError } from '../../engine/index.js';
import { extraExport, injectingNames, logFlood, moduleInstantiatedTwice, spinningStart, twoMemories, wrongSignature } from '../fixtures/components/hostile.js';
import { watWorkflowsComponent } from '../fixtures/components/build.js';
import { silentLogger } from '../helpers.js';

const engines: Engine[] = [];
afterEach(async () => {
  await Promise.all(engines.splice(0).map((engine) => engine.close()));
});

async function open(): Promise<Engine> {
  const engine = await Engine.open({ logger: silentLogger, limits: { cpuMsPerActivation: 300 }, supervision: { initialBackoffMs: 1, maxRestarts: 0 } });
  engines.push(engine);
  return engine;
}

describe('hostile components', () => {
  it('refuses core names that would be code in the glue the host runs, before running it', async () => {
    const engine = await open();
    await expect(engine.deploy({ component: await injectingNames() })).rejects.toThrow(/names an import or export "act'\+\(globalThis.injected=1\)\+'": names may only use/);
    expect((globalThis as { injected?: unknown }).injected).toBeUndefined();
  });

  it('stops a start function that never returns, at deploy, and goes on serving', { timeout: 30_000 }, async () => {
    const engine = await open();
    await expect(engine.deploy({ component: await spinningStart() })).rejects.toThrow(/did not finish evaluating within its CPU budget \(stopped by the watchdog\)/);
    await engine.deploy({ component: await watWorkflowsComponent() });
    expect(await (await engine.start('timerWorkflow')).result()).toHaveLength(2);
  });

  it('keeps what a run logs in a loop bounded, and fails the run at its CPU budget', { timeout: 30_000 }, async () => {
    const engine = await open();
    await engine.deploy({ component: await logFlood() });
    const error = (await (await engine.start('hostile')).result().catch((e: unknown) => e)) as WorkflowFailedError;
    expect(error).toBeInstanceOf(WorkflowFailedError);
    expect(error.cause.message).toMatch(/sandbox crashed \(cpu-budget\)/);
  });

  it('refuses a component with two memories (two modules, or one instantiated twice), an export besides the guest interface, or another signature', async () => {
    const engine = await open();
    await expect(engine.deploy({ component: await twoMemories() })).rejects.toThrow(/the component defines more than one memory; a workflow component may define one/);
    await expect(engine.deploy({ component: await moduleInstantiatedTwice() })).rejects.toThrow(/the component defines more than one memory/);
    await expect(engine.deploy({ component: await wrongSignature() })).rejects.toThrow(/the component's aion:workflow\/guest@0\.1\.0 is not the contract's \(wit\/workflow\.wit\)/);
    await expect(engine.deploy({ component: await extraExport() })).rejects.toThrow(/the component exports 'spare: func\(\) -> string' besides aion:workflow\/guest@0\.1\.0/);
  });
});
