/**
 * Where the guest SDK's entry modules are: the one module of the guest SDK the host imports
 * (the engine's bundler builds the runtime from them, and reads which names the workflow
 * API exports). TypeScript in the source tree, JavaScript in `dist`.
 *
 * @module
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

function locate(module: string): string {
  for (const extension of ['ts', 'js']) {
    const path = fileURLToPath(new URL(`./${module}.${extension}`, import.meta.url));
    if (existsSync(path)) return path;
  }
  throw new Error(`cannot find the guest SDK's ${module} module (guest-sdk/${module}): is the package installed completely?`);
}

/** The guest runtime script's entry. */
export const guestRuntimeEntry = (): string => locate('runtime');

/** The workflow API (`aion/workflow`). */
export const workflowApiEntry = (): string => locate('index');
