/**
 * The guest runtime script the host installs before every bundle: built once per process by
 * esbuild (bundler.ts), or read as `npm run build` left it beside the built runtime entry
 * (`dist/guest-sdk/runtime.prebuilt.json`) — which saves every engine's open esbuild's process
 * and about 100 ms. The prebuilt script is used only while every file it was built from has the
 * content it had then (checked by hash at each process's first use: 23 files, a millisecond);
 * otherwise, or where the files moved (another install's layout), the runtime is built again.
 *
 * Its bytes end up in every template image, so the template's build identity covers it.
 *
 * @module
 */
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { guestRuntimeEntry } from '../guest-sdk/runtime-entry.js';
import { buildGuestRuntime } from './bundler.js';

/** What `npm run build` writes: the script, and each file it came from (relative to this file's folder) with its content's hash. */
interface PrebuiltRuntime {
  code: string;
  inputs: Record<string, string>;
}

const prebuiltPath = (): string => join(dirname(guestRuntimeEntry()), 'runtime.prebuilt.json');

const sha256 = (bytes: Buffer): string => createHash('sha256').update(bytes).digest('hex');

let guestRuntime: Promise<string> | undefined;

/** The guest runtime script's source: prebuilt if it still matches its sources, else built now. */
export function loadGuestRuntime(): Promise<string> {
  if (!guestRuntime) {
    const prebuilt = readPrebuiltRuntime(prebuiltPath());
    guestRuntime = prebuilt !== undefined ? Promise.resolve(prebuilt) : buildGuestRuntime().then(({ code }) => code);
  }
  return guestRuntime;
}

/** Builds the runtime and writes it where `loadGuestRuntime` looks first (the build's last step); returns the file's path. */
export async function writePrebuiltGuestRuntime(): Promise<string> {
  const path = prebuiltPath();
  writePrebuiltRuntime(path, await buildGuestRuntime());
  return path;
}

/** Writes `built` (its script and the files it came from, by absolute path) to `path`. */
export function writePrebuiltRuntime(path: string, built: { code: string; inputs: string[] }): void {
  const inputs = Object.fromEntries(built.inputs.map((input) => [relative(dirname(path), input), sha256(readFileSync(input))]));
  writeFileSync(path, JSON.stringify({ code: built.code, inputs } satisfies PrebuiltRuntime));
}

/**
 * The script prebuilt at `path`, if there is one and every file it came from is unchanged.
 * Read synchronously (about a millisecond): at an open, reads through libuv's threads would
 * wait behind the store's databases opening there, and the sandbox threads start after this.
 */
export function readPrebuiltRuntime(path: string): string | undefined {
  let prebuilt: PrebuiltRuntime;
  try {
    prebuilt = JSON.parse(readFileSync(path, 'utf8')) as PrebuiltRuntime;
  } catch {
    return undefined; // none (the source tree, or a build that stopped before it), or not one
  }
  if (typeof prebuilt?.code !== 'string' || typeof prebuilt.inputs !== 'object' || prebuilt.inputs === null) return undefined;
  try {
    const unchanged = Object.entries(prebuilt.inputs).every(([input, hash]) => sha256(readFileSync(resolve(dirname(path), input))) === hash);
    return unchanged ? prebuilt.code : undefined;
  } catch {
    return undefined; // a file it came from is gone
  }
}
