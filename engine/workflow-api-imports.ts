/**
 * How a workflow bundle imports the workflow API. `aion/workflow` and `@temporalio/workflow`
 * (and `aion/common` / `@temporalio/common`) resolve to modules that take each name from the
 * API the guest runtime provides in the sandbox, so esbuild knows what the API exports: a
 * bundle that imports a name the API does not have is refused at build time, naming the name
 * and, for Temporal APIs this engine does not have, why.
 *
 * @module
 */
import { fileURLToPath } from 'node:url';
import { existsSync } from 'node:fs';
import type * as esbuild from 'esbuild';
import { workflowApiEntry } from '../guest-sdk/runtime-entry.js';

export const WORKFLOW_API_MODULES = ['aion/workflow', '@temporalio/workflow'];
export const COMMON_API_MODULES = ['aion/common', '@temporalio/common'];
/** What the guest runtime's `require` answers with the workflow API (bundles built before these modules require it too). */
const RUNTIME_API_MODULE = 'aion/workflow';
const NAMESPACE = 'aion-api';

/** Temporal APIs this engine does not have, and what to do instead. */
const UNSUPPORTED: Record<string, string> = {
  proxySinks: 'sinks are not supported: use log from aion/workflow',
  AsyncLocalStorage: 'AsyncLocalStorage is not available in workflow code',
  ROOT_SCOPE: 'ROOT_SCOPE is not exported: use CancellationScope.current() at the top of the workflow',
  defaultPayloadConverter: 'payload converters are not supported: payloads are JSON',
  WorkflowIdReusePolicy: 'workflow id reuse policies are not supported: an id can be started again once its run closed',
  WorkflowIdConflictPolicy: 'workflow id conflict policies are not supported: starting a running id fails with WorkflowAlreadyStartedError',
  createNexusClient: 'Nexus operations are not supported',
  NexusOperationFailure: 'Nexus operations are not supported',
  ServerFailure: 'there is no server failure here: failures are ApplicationFailure, ActivityFailure, ChildWorkflowFailure, CancelledFailure, TimeoutFailure or TerminatedFailure',
  NexusOperationCancellationType: 'Nexus operations are not supported',
  createNexusServiceClient: 'Nexus operations are not supported',
  scheduleActivity: 'use proxyActivities (its stubs schedule activities by name)',
  scheduleLocalActivity: 'use proxyLocalActivities',
  getRandomStream: 'randomness in workflows is Math.random() and uuid4(), seeded per run',
  workflowRandom: 'randomness in workflows is Math.random() and uuid4(), seeded per run',
  metricMeter: 'workflow metrics are not supported: the engine has its own (/metrics)',
  createEventGroup: 'event groups are not supported',
  defineWorkflowOptions: 'use setWorkflowOptions',
  addDefaultWorkflowOptions: 'use setWorkflowOptions',
  extractWorkflowType: 'a worker helper: not part of workflow code here',
  extractWorkflowTypeAndConfig: 'a worker helper: not part of workflow code here',
  encodeWorkflowIdReusePolicy: 'workflow id reuse policies are not supported',
  decodeWorkflowIdReusePolicy: 'workflow id reuse policies are not supported',
  encodeWorkflowIdConflictPolicy: 'workflow id conflict policies are not supported',
  decodeWorkflowIdConflictPolicy: 'workflow id conflict policies are not supported',
  CompleteAsyncError: 'it is for activities: import it from aion/activity',
  LocalActivityDoBackoff: 'local activities retry as activities do here: no separate backoff signal',
  NotAnActivityMethod: 'activity stubs here accept any name and fail the call if no function runs it',
  PayloadConverterError: 'payload converters are not supported: payloads are JSON',
  ExternalStorageNotConfiguredError: 'external payload storage is not supported',
  NamespaceNotFoundError: 'client errors are in aion/client, not in workflow code',
  WorkflowNotFoundError: 'client errors are in aion/client, not in workflow code',
};

function commonApiEntry(): string {
  for (const extension of ['ts', 'js']) {
    const path = fileURLToPath(new URL(`../common/index.${extension}`, import.meta.url));
    if (existsSync(path)) return path;
  }
  throw new Error('cannot find aion/common (common/index): is the package installed completely?');
}

let exported: Promise<{ workflow: string[]; common: string[] }> | undefined;

/** The names the workflow API and aion/common export (read from esbuild's metafile, once per process). */
function apiExports(): Promise<{ workflow: string[]; common: string[] }> {
  const exportsOf = async (entry: string) => {
    const { build } = await import('esbuild');
    const result = await build({ entryPoints: [entry], bundle: true, write: false, format: 'esm', platform: 'neutral', metafile: true, logLevel: 'silent' });
    return Object.values(result.metafile.outputs)[0].exports;
  };
  if (!exported) {
    const scan = Promise.all([exportsOf(workflowApiEntry()), exportsOf(commonApiEntry())]).then(([workflow, common]) => ({ workflow, common }));
    exported = scan;
    scan.catch(() => exported === scan && (exported = undefined)); // a failed scan is tried again by the next build
  }
  return exported;
}

export const workflowApiImports: esbuild.Plugin = {
  name: 'aion-workflow-api',
  setup(build) {
    build.onResolve({ filter: /^(aion|@temporalio)\// }, (args) => {
      if (args.namespace === NAMESPACE) return { path: args.path, external: true };
      if (WORKFLOW_API_MODULES.includes(args.path) || COMMON_API_MODULES.includes(args.path)) return { path: args.path, namespace: NAMESPACE };
      if (!args.path.startsWith('@temporalio/')) return undefined;
      return {
        errors: [
          {
            text: `workflow code cannot import '${args.path}' (imported by ${args.importer || 'the entry'}): only @temporalio/workflow and @temporalio/common have a counterpart in the sandbox (aion/workflow, aion/common); clients, workers and activities run outside workflows`,
          },
        ],
      };
    });
    build.onLoad({ filter: /.*/, namespace: NAMESPACE }, async (args) => {
      const names = await apiExports();
      const exports = WORKFLOW_API_MODULES.includes(args.path) ? names.workflow : names.common;
      // Pure, so the bundle keeps only the names it uses (every sandbox holds the bundle in its memory).
      const lines = exports.map((name) => `export const ${name} = /* @__PURE__ */ (() => api.${name})();`);
      return { contents: `const api = require(${JSON.stringify(RUNTIME_API_MODULE)});\n${lines.join('\n')}\n`, loader: 'js' };
    });
  },
};

const MISSING_EXPORT = /^No matching export in "aion-api:([^"]+)" for import "([^"]+)"$/;
const UNDEFINED_IMPORT = /^Import "([^"]+)" will always be undefined because there is no matching export in "aion-api:([^"]+)"$/;

/**
 * An esbuild message about a name the API does not export, rewritten to name it and say why;
 * undefined for any other message.
 */
export function describeMissingApiName(text: string): string | undefined {
  const missing = MISSING_EXPORT.exec(text);
  const undefinedImport = UNDEFINED_IMPORT.exec(text);
  const [name, module] = missing ? [missing[2], missing[1]] : undefinedImport ? [undefinedImport[1], undefinedImport[2]] : [];
  if (name === undefined) return undefined;
  const reason = UNSUPPORTED[name] ?? `it is not part of Aion's workflow API (see docs/workflows.md, "Differences from Temporal")`;
  return `'${name}' imported from '${module}' is not supported: ${reason}`;
}
