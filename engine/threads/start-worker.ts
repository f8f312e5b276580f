/**
 * Starts a worker thread on a module of this package: its JavaScript in `dist`, or in the
 * source tree (tests, `tsx`) its TypeScript, loaded through tsx.
 *
 * @module
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker, type Transferable, type WorkerOptions } from 'node:worker_threads';

/** `module`: the entry's URL without its extension (`new URL('./x', import.meta.url)`). */
export function startWorker(module: URL, options: { workerData?: unknown; transferList?: readonly Transferable[] } = {}): Worker {
  const compiled = new URL(`${module.href}.js`);
  if (existsSync(fileURLToPath(compiled))) return new Worker(compiled, options as WorkerOptions);
  const source = `${module.href}.ts`;
  const tsx = import.meta.resolve('tsx/esm/api');
  const bootstrap = `import(${JSON.stringify(tsx)}).then((tsx) => { tsx.register(); return import(${JSON.stringify(source)}); });`;
  return new Worker(bootstrap, { ...options, eval: true } as WorkerOptions);
}
