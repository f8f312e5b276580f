import { createHash, randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, inject } from 'vitest';
import { bundleWorkflowCode } from '../engine/bundler.js';
import { Engine, type EngineOptions } from '../engine/engine.js';
import type { WorkflowHandle } from '../engine/handle.js';
import { replayHistory } from '../engine/replay-history.js';
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

const testDirs: string[] = [];
const suiteDirs: string[] = [];
const removeAll = (dirs: string[]) => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
};

/** A new temporary folder, removed after the test (after its engines are closed). */
export function tempDir(prefix = 'aion-test-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  testDirs.push(dir);
  return dir;
}

/** The LevelDB databases of a data folder: the folder itself, or its control store and partitions. */
export const databasesOf = (dataDir: string): string[] =>
  [dataDir, ...readdirSync(dataDir).map((name) => join(dataDir, name))].filter((folder) => existsSync(join(folder, 'CURRENT')));

/** A new temporary folder for a whole test file, removed after its last test. */
export function suiteTempDir(prefix = 'aion-test-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  suiteDirs.push(dir);
  return dir;
}

const open: { engine: Engine; bundle: string }[] = [];
afterEach(async () => {
  const engines = open.splice(0);
  try {
    // Every history a test recorded must replay against the code that recorded it.
    for (const { engine, bundle } of engines) await replayAll(engine, bundle);
  } finally {
    await Promise.all(engines.map(({ engine }) => engine.close()));
    removeAll(testDirs);
  }
});
afterAll(() => removeAll(suiteDirs));

async function replayAll(engine: Engine, bundle: string): Promise<void> {
  const code = await fixtureBundle(bundle);
  for (const run of await engine.list()) {
    const history = await engine.getHandle(run.workflowId, run.runId).history();
    await replayHistory({ code }, history).catch((error: unknown) => {
      throw new Error(`history of ${run.workflowId} (${run.runId}) does not replay: ${(error as Error).message}`);
    });
  }
}

/**
 * `AION_TEST_THREADS=N` runs the tests' engines with N partition threads (CI runs the suite
 * so), except those a test opens on a store of its own or with a skipping clock.
 */
export function withTestThreads(options: EngineOptions): EngineOptions {
  const threads = Number(process.env.AION_TEST_THREADS ?? 0);
  if (threads === 0 || options.threads !== undefined || options.store !== undefined || options.timeSkipping === true || options.partitions === 1) return options;
  return { ...options, threads: Math.min(threads, options.partitions ?? threads) };
}

/**
 * `AION_TEST_STORE=postgres` runs the tests' engines on the PostgreSQL server of the test run
 * (test/postgres-setup.ts; CI runs the suite so): an in-memory engine gets a schema of its own,
 * and a data folder names a schema (the same folder, the same schema, so a test reopening it
 * finds its runs). Not for engines a test opens on a store of its own or with a skipping clock.
 */
export function withTestStore(options: EngineOptions): EngineOptions {
  if (process.env.AION_TEST_STORE !== 'postgres' || options.store !== undefined || options.timeSkipping === true) return options;
  const url = inject('postgresUrl');
  if (url === undefined) throw new Error('AION_TEST_STORE=postgres needs PostgreSQL (test/postgres-setup.ts)');
  const { dataDir, ...rest } = options;
  const schema = dataDir === undefined ? `t_${randomUUID().replaceAll('-', '').slice(0, 24)}` : `d_${createHash('sha256').update(dataDir).digest('hex').slice(0, 24)}`;
  return { ...rest, postgres: { url, schema } };
}

/**
 * An engine (in memory unless `dataDir` is given) with a fixture bundle deployed; after the
 * test, every run's history is replayed against that bundle and the engine is closed.
 */
export async function openEngine(options: EngineOptions = {}, bundle = 'workflows.ts'): Promise<Engine> {
  const engine = await Engine.open({ logger: silentLogger, ...withTestStore(withTestThreads(options)) });
  open.push({ engine, bundle });
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
