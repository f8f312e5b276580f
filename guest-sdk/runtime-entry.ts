/**
 * Where the guest runtime's entry module is: the one module of the guest SDK the host
 * imports (the engine's bundler builds the runtime from it). TypeScript in the source tree,
 * JavaScript in `dist`.
 *
 * @module
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export function guestRuntimeEntry(): string {
  for (const extension of ['ts', 'js']) {
    const path = fileURLToPath(new URL(`./runtime.${extension}`, import.meta.url));
    if (existsSync(path)) return path;
  }
  throw new Error('cannot find the guest runtime (guest-sdk/runtime): is the package installed completely?');
}
