import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Engine } from '../../engine/engine.js';
import { figure, type Figure, type Scenario } from '../scenario.js';
import { noopActivities, scratchDir, silentLogger } from '../workloads/index.js';

/** Starts the runs in a child process and SIGKILLs it once they are all started. */
async function startAndKill(dataDir: string, count: number, sleepMs: number): Promise<void> {
  const script = fileURLToPath(new URL(`../recovery-child.${import.meta.url.endsWith('.ts') ? 'ts' : 'js'}`, import.meta.url));
  const child = spawn(process.execPath, [...(import.meta.url.endsWith('.ts') ? ['--import', 'tsx'] : []), script, dataDir, String(count), String(sleepMs)], {
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
  description: 'SIGKILL with 10,000 running runs whose timers came due meanwhile: from Engine.open to the first and to the last run completed',
  async run({ quick }): Promise<Figure[]> {
    const count = quick ? 500 : 10_000;
    const sleepMs = 1_000;
    const dataDir = scratchDir('aion-bench-recovery-');
    await startAndKill(dataDir, count, sleepMs);
    await new Promise((resolve) => setTimeout(resolve, sleepMs)); // every timer is overdue now
    const opened = performance.now();
    const engine = await Engine.open({ dataDir, activities: noopActivities, logger: silentLogger });
    const openMs = performance.now() - opened;
    let first = Infinity;
    let last = 0;
    await Promise.all(
      Array.from({ length: count }, async (_, i) => {
        await engine.getHandle(`recover-${i}`).result();
        const at = performance.now() - opened;
        first = Math.min(first, at);
        last = Math.max(last, at);
      }),
    );
    await engine.close();
    return [
      figure('Engine.open (recovery sweep)', openMs, 'ms'),
      figure('until the first run completed', first, 'ms'),
      figure('until all runs completed', last, 'ms'),
      figure('runs recovered', (count / last) * 1000, 'runs/s'),
    ];
  },
};
