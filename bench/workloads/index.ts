import { existsSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { bundleWorkflowCode } from '../../engine/bundler.js';
import { Engine, type EngineOptions } from '../../engine/engine.js';
import type { Logger } from '../../engine/logger.js';
import * as noop from './noop-activities.js';

const silent: Logger = { debug() {}, info() {}, warn() {}, error() {} };

/** The workload's workflow module: TypeScript beside this file in the source tree, JavaScript in dist. */
function workloadPath(name: string): string {
  const ts = fileURLToPath(new URL(`./${name}.ts`, import.meta.url));
  return existsSync(ts) ? ts : fileURLToPath(new URL(`./${name}.js`, import.meta.url));
}

/** The bundle of every benchmark workflow (bench/workloads/workflows.ts). */
export const order3Code = async (): Promise<string> => (await bundleWorkflowCode({ workflowsPath: workloadPath('workflows') })).code;

/** Activities that do nothing: the benchmark measures the engine. */
export const noopActivities = { ...noop };

/** The module exporting them, for partition threads to import (`activitiesModule`). */
export const noopActivitiesModule = (): string => workloadPath('noop-activities');

/** They and `crashThread`, which ends its partition thread once (bench/workloads/crashing-activities.ts). */
export const crashingActivitiesModule = (): string => workloadPath('crashing-activities');

/** A fresh folder under the OS temp dir, removed when this process exits (a scenario's store can be gigabytes). */
export function scratchDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** An engine on a fresh LevelDB folder with the order3 bundle deployed. */
export async function order3Engine(options: Partial<EngineOptions> = {}): Promise<{ engine: Engine; dataDir: string }> {
  const dataDir = scratchDir('aion-bench-');
  const engine = await Engine.open({ dataDir, activities: noopActivities, logger: silent, ...options });
  await engine.deploy({ code: await order3Code() });
  return { engine, dataDir };
}

export const silentLogger = silent;

/** Runs `count` tasks, at most `concurrency` at a time. */
export async function inBatches(count: number, concurrency: number, task: (i: number) => Promise<unknown>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < count) await task(next++);
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
}

/** Bytes of the files under `dir` (a file LevelDB's compaction deletes meanwhile counts 0). */
export function directoryBytes(dir: string): number {
  let total = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) total += directoryBytes(path);
    else total += statSync(path, { throwIfNoEntry: false })?.size ?? 0;
  }
  return total;
}

/**
 * Runs `total` workflows of `type`, at most `inFlight` at a time; returns each run's
 * start-to-result latency in ms and the elapsed time.
 */
export function runMany(engine: Engine, type: string, total: number, inFlight: number, namespace?: string): Promise<{ latencies: number[]; elapsedMs: number }> {
  return timedRuns(total, inFlight, async (i) => {
    const handle = await engine.start(type, { args: [i], workflowId: `${type}-${i}`, ...(namespace !== undefined ? { namespace } : {}) });
    await handle.result();
  });
}

/** Runs `run(i)` for i below `total`, at most `inFlight` at a time; returns the latency of each in ms and the elapsed time. */
export async function timedRuns(total: number, inFlight: number, run: (i: number) => Promise<void>): Promise<{ latencies: number[]; elapsedMs: number }> {
  const latencies: number[] = [];
  let next = 0;
  const started = performance.now();
  const worker = async () => {
    while (next < total) {
      const i = next++;
      const t0 = performance.now();
      await run(i);
      latencies.push(performance.now() - t0);
    }
  };
  await Promise.all(Array.from({ length: Math.min(inFlight, total) }, worker));
  return { latencies, elapsedMs: performance.now() - started };
}
