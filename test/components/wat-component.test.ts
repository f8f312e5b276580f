/**
 * A workflow component written in WebAssembly text (test/fixtures/components): deployed,
 * checked against the contract, run with the recorded clock and seeded random, replayed,
 * snapshotted, and failing only its own run when it spins, grows past its memory or traps.
 */
import { randomUUID } from 'node:crypto';
import { afterEach, beforeAll, describe, expect, inject, it } from 'vitest';
import { ComponentWorkflowTemplate } from '../../engine/component-workflow.js';
import { Engine, replayHistories, WorkflowFailedError, type HistoryEvent } from '../../engine/index.js';
import { CompiledComponent, ComponentTemplate, DEFAULT_LIMITS, transpileComponent } from '../../sandbox/index.js';
import { HostImports } from '../../sandbox/component/host-imports.js';
import { activation, ACTIVATION_TIME, startJob } from '../fixtures/components/activations.js';
import { importingComponent, watWorkflowsComponent } from '../fixtures/components/build.js';
import { silentLogger, tempDir } from '../helpers.js';

let component: Uint8Array;
beforeAll(async () => {
  component = await watWorkflowsComponent();
});

const engines: Engine[] = [];
afterEach(async () => {
  await Promise.all(engines.splice(0).map((engine) => engine.close()));
});

async function open(options: Parameters<typeof Engine.open>[0] = {}): Promise<Engine> {
  const engine = await Engine.open({ logger: silentLogger, ...options });
  engines.push(engine);
  return engine;
}

/** What the WAT workflow's random number is for a run of this seed: the host's stream, first draw, top 52 bits. */
function expectedRandom(seed: number): number {
  const host = new HostImports();
  host.seed(seed);
  const draw = (host.imports()['wasi:random/random'].getRandomU64 as () => bigint)();
  return Number(draw >> 12n);
}

describe('a workflow component in WebAssembly text', () => {
  it('deploys, and runs with the activation\'s recorded time and the run\'s seeded random', async () => {
    const engine = await open();
    const deployed = await engine.deploy({ component });
    expect(deployed.workflowTypes).toEqual(['timerWorkflow', 'spin', 'grow', 'trap']);
    expect(await engine.deploy({ component })).toEqual(deployed);

    const handle = await engine.start('timerWorkflow', { workflowId: 'timer' });
    const [seconds, random] = (await handle.result()) as [number, number];
    const history = await handle.history();
    expect(history.map((event) => event.type)).toEqual(['WorkflowStarted', 'WorkflowTaskCompleted', 'TimerStarted', 'TimerFired', 'WorkflowTaskCompleted', 'WorkflowCompleted']);
    const started = history[0] as Extract<HistoryEvent, { type: 'WorkflowStarted' }>;
    const activation = history[4];
    // The activation after the timer fired ran at its completion's time (the timer's delivery may be a moment earlier).
    expect(seconds).toBe(Math.floor(activation.time / 1000));
    expect(random).toBe(expectedRandom(started.randomSeed));
  });

  it('replays its histories, and a history it would not make diverges', async () => {
    const engine = await open();
    await engine.deploy({ component });
    const handle = await engine.start('timerWorkflow');
    await handle.result();
    const history = await handle.history();
    const replayed = await replayHistories({ component }, [history], { strict: true, threads: 1 });
    expect(replayed).toMatchObject({ replayed: 1, reproduced: 1, diverged: [], failed: [] });

    const tampered = history.map((event) => (event.type === 'TimerStarted' ? { ...event, durationMs: 60 } : event));
    const diverged = await replayHistories({ component }, [tampered], { strict: true, threads: 1 });
    expect(diverged.diverged).toHaveLength(1);
    expect(diverged.diverged[0].divergences[0].eventType).toBe('TimerStarted');
  });

  it('keeps the log lines it writes through the host', async () => {
    const lines: { message: string; level: string }[] = [];
    const logger = { ...silentLogger, info: (attributes: unknown, message: string) => void lines.push({ message, level: 'info' }), child: () => logger };
    const engine = await open({ logger: logger as typeof silentLogger });
    await engine.deploy({ component });
    await (await engine.start('timerWorkflow')).result();
    expect(lines.map((line) => line.message)).toContain('started');
  });

  it('refuses a component that imports the filesystem or sockets, naming the import', async () => {
    const engine = await open();
    await expect(engine.deploy({ component: await importingComponent('wasi:filesystem/types@0.2.0') })).rejects.toThrow(/imports 'wasi:filesystem\/types@0\.2\.0', which a workflow may not use/);
    await expect(engine.deploy({ component: await importingComponent('wasi:sockets/tcp@0.2.0') })).rejects.toThrow(/imports 'wasi:sockets\/tcp@0\.2\.0', which a workflow may not use/);
    expect(await engine.versions()).toEqual([]);
  });

  it('refuses bytes that are not a component, saying what they are', async () => {
    const engine = await open();
    const coreModule = new Uint8Array([0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00]);
    await expect(engine.deploy({ component: coreModule })).rejects.toThrow(/a core WebAssembly module, not a component/);
    await expect(engine.deploy({ component: new Uint8Array([1, 2, 3]) })).rejects.toThrow(/not a WebAssembly component/);
    await expect(engine.deploy({ component: 'bytes' as unknown as Uint8Array })).rejects.toThrow(/a component is a non-empty Uint8Array/);
    await expect(engine.deploy({ code: 'x', component } as never)).rejects.toThrow(/either \{ code \} \(a bundle\) or \{ component \}/);
  });

  it('fails only its own run when it spins, grows past the memory cap or traps', async () => {
    const engine = await open({ limits: { cpuMsPerActivation: 300, memoryBytes: 8 * 1024 * 1024 }, supervision: { initialBackoffMs: 1 } });
    await engine.deploy({ component });
    const neighbour = await engine.start('timerWorkflow');
    const failures: Record<string, string> = {};
    for (const type of ['spin', 'grow', 'trap']) {
      const handle = await engine.start(type);
      const error = (await handle.result().catch((e: unknown) => e)) as WorkflowFailedError;
      expect(error).toBeInstanceOf(WorkflowFailedError);
      expect((await handle.describe()).status).toBe('Failed');
      failures[type] = error.cause.message;
    }
    expect(failures.spin).toMatch(/sandbox crashed \(cpu-budget\)/);
    expect(failures.grow).toMatch(/sandbox crashed \(trap\).*its memory used 7\.1 MiB of its 8\.0 MiB cap/);
    expect(failures.trap).toMatch(/sandbox crashed \(trap\).*unreachable/);
    expect(await neighbour.result()).toHaveLength(2);
  });
});

const postgresUrl = inject('postgresUrl');
const STORES = [
  { name: 'two partition threads', options: () => ({ dataDir: tempDir(), threads: 2 }), skip: false },
  { name: 'PostgreSQL', options: () => ({ postgres: { url: postgresUrl!, schema: `c_${randomUUID().replaceAll('-', '').slice(0, 16)}` } }), skip: postgresUrl === undefined },
];

describe.each(STORES)('a workflow component on $name', ({ options, skip }) => {
  it.skipIf(skip)('is stored with its bytes and runs where its runs are served', async () => {
    const where = options();
    const first = await open(where);
    const { version } = await first.deploy({ component });
    const results = await Promise.all(Array.from({ length: 4 }, async (_, i) => (await first.start('timerWorkflow', { workflowId: `t${i}` })).result()));
    expect(results.every((result) => Array.isArray(result) && result.length === 2)).toBe(true);
    await first.close();
    // Reopened, it loads the version from the store.
    const second = await open(where);
    expect((await second.versions()).map((deployed) => deployed.version)).toEqual([version]);
    expect(await (await second.start('timerWorkflow')).result()).toHaveLength(2);
  });
});

describe('component templates', () => {
  it('reuses a released instance, reset to the template: it behaves as a new one', async () => {
    const compiled = await CompiledComponent.compile(await transpileComponent(component), DEFAULT_LIMITS.memoryBytes);
    const template = ComponentTemplate.create(compiled, DEFAULT_LIMITS, 1000, (sandbox) => sandbox.call('workflowTypes'));
    template.setPoolSize(1);
    const run = (sandbox: ReturnType<ComponentTemplate['fork']>) => {
      sandbox.begin(1_700_000_000_000);
      sandbox.call('activate', '{"jobs":[{"kind":"startWorkflow","info":{"workflowType":"timerWorkflow"}}]}');
      const started = sandbox.call('advance');
      sandbox.call('activate', '{"jobs":[{"kind":"fireTimer","seq":1}]}');
      return [started, sandbox.call('advance'), sandbox.takeLogs()];
    };
    const first = template.fork();
    const outcome = run(first);
    template.release(first);
    const reused = template.fork();
    expect(reused.instance).toBe(first.instance);
    expect(() => first.call('advance')).toThrow(/sandbox used after dispose/);
    expect(run(reused)).toEqual(outcome);
    expect(template.capture(template.fork())).toMatchObject({ pages: new Uint32Array(0) });
  });
});

describe('queries on a component', () => {
  it('undo what the query changed, its memory growth too: the run goes on as if it had not been asked', async () => {
    const template = await ComponentWorkflowTemplate.create(component, DEFAULT_LIMITS);
    const asked = await template.newSandbox();
    const notAsked = await template.newSandbox();
    for (const sandbox of [asked, notAsked]) sandbox.activate(activation(0, [startJob('timerWorkflow', [], 99)]));
    const before = asked.residentBytes;
    expect(asked.query('anything', [], ACTIVATION_TIME)).toMatchObject({ ok: false });
    expect(asked.validateUpdate('u1', 'anything', [], ACTIVATION_TIME)).toMatchObject({ ok: false });
    expect(asked.residentBytes).toBe(before);
    const fire = activation(3, [{ kind: 'fireTimer', seq: 1 }]);
    expect(asked.activate(fire)).toBe(notAsked.activate(fire));
  });
});

describe('component snapshots', () => {
  it('restores a run mid-way to the state it was captured in: the same commands and result', async () => {
    const template = await ComponentWorkflowTemplate.create(component, DEFAULT_LIMITS);
    const original = await template.newSandbox();
    const first = original.activate(activation(0, [startJob('timerWorkflow', [], 1234)]));
    expect(JSON.parse(first).commands).toEqual([{ kind: 'startTimer', seq: 1, durationMs: 50 }]);

    const restored = await template.restore(original.capture());
    const fire = activation(3, [{ kind: 'fireTimer', seq: 1 }], 1_700_000_005_000);
    const fromOriginal = original.activate(fire);
    expect(restored.activate(fire)).toBe(fromOriginal);
    expect(JSON.parse(fromOriginal).commands[0].result).toEqual([1_700_000_005, expectedRandom(1234)]);
  });
});
