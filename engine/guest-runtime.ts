/**
 * The guest runtime script the host installs before every bundle: built once per process by
 * esbuild (bundler.ts), or read as `npm run build` left it beside the built runtime entry
 * (`dist/guest-sdk/runtime.prebuilt.json`) — which saves every engine's open esbuild's process
 * and about 100 ms. The prebuilt script is used only while every file it was built from has the
 * content it had then (checked by hash at each process's first use: two dozen files, a
 * millisecond); otherwise the runtime is built again. A file of an installed package (a
 * dependency of the runtime, esbuild's `package.json` for its version) is named by package and
 * looked for in the `node_modules` folders above the prebuilt file, nearest first: an install
 * that placed the package elsewhere still finds it.
 *
 * Its bytes end up in every template image, so the template's build identity covers it.
 *
 * @module
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { guestRuntimeEntry } from '../guest-sdk/runtime-entry.js';
import { buildGuestRuntime } from './bundler.js';

/** What `npm run build` writes: the script, and each file it came from (`inputName`) with its content's hash. */
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

/** Builds the runtime and writes it where `loadGuestRuntime` looks first (the build's last step). */
export async function writePrebuiltGuestRuntime(): Promise<void> {
  writePrebuiltRuntime(prebuiltPath(), await buildGuestRuntime());
}

/** Writes `built` (its script and the files it came from, by absolute path) to `path`. */
export function writePrebuiltRuntime(path: string, built: { code: string; inputs: string[] }): void {
  const inputs = Object.fromEntries(built.inputs.map((input) => [inputName(dirname(path), input), sha256(readFileSync(input))]));
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
  const inputs = Object.entries(prebuilt.inputs);
  if (inputs.length === 0) return undefined; // checks nothing
  try {
    const unchanged = inputs.every(([input, hash]) => {
      const file = inputPath(dirname(path), input);
      return file !== undefined && sha256(readFileSync(file)) === hash;
    });
    return unchanged ? prebuilt.code : undefined;
  } catch {
    return undefined; // a file it came from is gone
  }
}

const PACKAGE = 'package:';

/** How the prebuilt file names an input: by package (`package:ms/index.js`) inside a `node_modules` folder, else by path from `folder`. */
function inputName(folder: string, input: string): string {
  const installed = /^.*[/\\]node_modules[/\\]((?:@[^/\\]+[/\\])?[^/\\]+[/\\].+)$/.exec(input);
  return installed ? `${PACKAGE}${installed[1].replaceAll('\\', '/')}` : relative(folder, input);
}

/** Where an input named by `inputName` is now: a package's file in the nearest `node_modules` above `folder` that has it. */
function inputPath(folder: string, name: string): string | undefined {
  if (!name.startsWith(PACKAGE)) return resolve(folder, name);
  for (let dir = folder; ; dir = dirname(dir)) {
    const candidate = join(dir, 'node_modules', name.slice(PACKAGE.length));
    if (existsSync(candidate)) return candidate;
    if (dirname(dir) === dir) return undefined;
  }
}
