/**
 * Builds what runs in a sandbox with esbuild: workflow bundles (`bundleWorkflowCode`,
 * `aion build`) and the guest runtime the host installs before every bundle (loaded through
 * guest-runtime.ts).
 *
 * Both are built with async functions and generators lowered, so every resumption after an
 * `await` passes through `Promise.prototype.then`, where the guest runtime carries the
 * current cancellation scope (guest-sdk/async-context.ts).
 *
 * @module
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { builtinModules, createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type * as esbuild from 'esbuild';
import { guestRuntimeEntry } from '../guest-sdk/runtime-entry.js';
import { describeMissingApiName, workflowApiImports } from './workflow-api-imports.js';

/** Thrown when a bundle cannot be built; `message` lists every problem, one per line. */
export class BundleError extends Error {
  override name = 'BundleError';
}

const sandboxTarget: esbuild.BuildOptions = {
  bundle: true,
  write: false,
  platform: 'neutral',
  mainFields: ['module', 'main'],
  target: 'es2020',
  supported: { 'async-await': false, 'async-generator': false, 'for-await': false },
  charset: 'utf8',
  logLevel: 'silent',
};

const NODE_BUILTINS = new Set(builtinModules.flatMap((name) => [name, `node:${name}`]));

/** Refuses Node built-ins with a message that names the import and where it comes from. */
const refuseNodeBuiltins: esbuild.Plugin = {
  name: 'aion-refuse-node-builtins',
  setup(build) {
    build.onResolve({ filter: /.*/ }, (args) => {
      const root = args.path.split('/')[0];
      if (!NODE_BUILTINS.has(args.path) && !NODE_BUILTINS.has(root)) return undefined;
      return {
        errors: [
          {
            text: `workflow code cannot import the Node built-in '${args.path}' (imported by ${args.importer || 'the entry'}): workflows run in a deterministic sandbox without Node APIs; call it from an activity instead`,
          },
        ],
      };
    });
  },
};

export interface BundleOptions {
  /** Entry module whose exported async functions are the workflow types. */
  workflowsPath: string;
  /**
   * Appends an inline source map (default true), as Temporal's bundles carry one: the engine
   * keeps it beside the version and names the workflow's own files and lines in stack traces.
   */
  sourceMap?: boolean;
}

/** Bundles workflow code for the sandbox: one CommonJS script importing only the workflow API. */
export async function bundleWorkflowCode(options: BundleOptions): Promise<{ code: string }> {
  if (!existsSync(options.workflowsPath)) throw new BundleError(`workflow entry not found: ${options.workflowsPath}`);
  const output = await build({
    ...sandboxTarget,
    entryPoints: [options.workflowsPath],
    format: 'cjs',
    sourcemap: options.sourceMap === false ? false : 'inline',
    plugins: [workflowApiImports, refuseNodeBuiltins, refuseTemporalInterceptors],
  });
  return { code: output.outputFiles![0].text };
}

/** How a Temporal workflow module declares interceptors (registered by a worker option Aion does not have). */
const INTERCEPTORS_EXPORT = /^\s*export\s+(?:const|let|var|(?:async\s+)?function)\s+interceptors\b/m;

/**
 * Refuses the workflow code's own modules that export Temporal's `interceptors`: their
 * behaviour would silently be missing (node_modules are not looked at).
 */
const refuseTemporalInterceptors: esbuild.Plugin = {
  name: 'aion-refuse-temporal-interceptors',
  setup(build) {
    build.onLoad({ filter: /\.[cm]?[jt]sx?$/ }, async (args) => {
      if (args.path.includes('/node_modules/')) return undefined;
      const source = await readFile(args.path, 'utf8');
      if (!INTERCEPTORS_EXPORT.test(source)) return undefined;
      return { errors: [{ text: `'interceptors' exported by ${args.path}: Temporal's workflow interceptors are not supported (nothing would run them); remove them and the behaviour they add` }] };
    });
  },
};

/**
 * Builds the guest runtime script (guest-sdk/runtime), minified: every sandbox holds it in its
 * memory, and 80 KB less each is ~15% more resident sandboxes. With the absolute paths of the
 * files that shape the output: those it was built from, this module (its options) and
 * esbuild's `package.json` (its version).
 */
export async function buildGuestRuntime(): Promise<{ code: string; inputs: string[] }> {
  const entry = guestRuntimeEntry();
  const result = await build({ ...sandboxTarget, entryPoints: [entry], format: 'iife', minify: true, metafile: true, absWorkingDir: dirname(entry) });
  const inputs = Object.keys(result.metafile!.inputs).map((input) => resolve(dirname(entry), input));
  const esbuildPackage = join(dirname(dirname(createRequire(import.meta.url).resolve('esbuild'))), 'package.json');
  return { code: result.outputFiles![0].text, inputs: [...inputs, fileURLToPath(import.meta.url), esbuildPackage] };
}

async function build(options: esbuild.BuildOptions): Promise<esbuild.BuildResult> {
  let result: esbuild.BuildResult;
  try {
    // Imported at the first build: its module costs a process that never builds (an engine opening a prebuilt runtime) 50 ms.
    const { build: esbuildBuild } = await import('esbuild');
    result = await esbuildBuild(options);
  } catch (error) {
    const failure = error as esbuild.BuildFailure;
    if (!Array.isArray(failure.errors)) throw error;
    throw new BundleError(failure.errors.map(formatMessage).join('\n'));
  }
  // A name the workflow API lacks, used through a namespace import, is only a warning to esbuild.
  const missingNames = result.warnings.filter((warning) => describeMissingApiName(warning.text) !== undefined);
  if (missingNames.length > 0) throw new BundleError(missingNames.map(formatMessage).join('\n'));
  return result;
}

function formatMessage(message: esbuild.Message): string {
  const where = message.location ? `${message.location.file}:${message.location.line}:${message.location.column}: ` : '';
  return `${where}${describeMissingApiName(message.text) ?? message.text}`;
}
