import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Engine } from '../../engine/engine.js';
import { figure, type Figure, type Scenario } from '../scenario.js';
import { noopActivities, scratchDir, silentLogger } from '../workloads/index.js';

/** Starts the runs in a child process and SIGKILLs it once they are all started. */
async function startAndKill(dataDir: string, count: number, wakeAt: number): Promise<void> {
  const script = fileURLToPath(new URL(`../recovery-child.${import.meta.url.endsWith('.ts') ? 'ts' : 'js'}`, import.meta.url));
  const child = spawn(process.execPath, [...(import.meta.url.endsWith('.ts') ? ['--import', 'tsx'] : []), script, dataDir, String(count), String(wakeAt)], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  await new Promise<void>((resolve, reject) => {
    child.stdout.on('data', (chunk: Buffer) => {
      if (chunk.toString().includes('started')) resolve();
    });
    child.on('exit', (code) => reject(new Error(`recovery child exited with ${code} before starting its runs`)));
  });
  child.kill('SIGKILL');
  await new Promise((resolve) => child.once('exit', resolve));
}

export const recovery: Scenario = {
  name: 'recovery',
  description: 'SIGKILL with 10,000 running runs whose timers came due meanwhile: from Engine.open until the first and every run made progress (timer fired, next activity started) and completed',
  async run({ quick }): Promise<Figure[]> {
    const count = quick ? 500 : 10_000;
    // Every timer is due at one moment after the child has started all runs: about 120 starts/s
    // here, since every started run stays resident (each needs a new wasm instance).
    const wakeAt = Date.now() + 2_000 + count * 12;
    const dataDir = scratchDir('aion-bench-recovery-');
    await startAndKill(dataDir, count, wakeAt);
    await new Promise((resolve) => setTimeout(resolve, wakeAt - Date.now() + 50)); // every timer is overdue now
    const opened = performance.now();
    // A run has made progress once its timer fired and the activity after it started.
    const progressed = new Set<number>();
    let firstProgress = Infinity;
    let allProgressed = Infinity;
    const step1 = async (n: number) => {
      const at = performance.now() - opened;
      firstProgress = Math.min(firstProgress, at);
      progressed.add(n);
      if (progressed.size === count) allProgressed = Math.min(allProgressed, at);
      return n;
    };
    const engine = await Engine.open({ dataDir, activities: { ...noopActivities, step1 }, logger: silentLogger });
    const openMs = performance.now() - opened;
    let lastCompleted = 0;
    await Promise.all(
      Array.from({ length: count }, async (_, i) => {
        await engine.getHandle(`recover-${i}`).result();
        lastCompleted = Math.max(lastCompleted, performance.now() - opened);
      }),
    );
    await engine.close();
    return [
      figure('Engine.open (recovery sweep)', openMs, 'ms'),
      figure('until the first run made progress', firstProgress, 'ms'),
      figure('until every run made progress', allProgressed, 'ms'),
      figure('until every run completed', lastCompleted, 'ms'),
      figure('runs recovered', (count / lastCompleted) * 1000, 'runs/s'),
    ];
  },
};
