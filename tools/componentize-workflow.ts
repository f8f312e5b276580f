/**
 * Makes a workflow bundle into a WebAssembly component with componentize-js (a development
 * dependency: teams install it where they build), as docs/components.md shows: the bundle and
 * the guest runtime in one ES module (`workflowComponentSource`), built against the contract's
 * `workflow` world with every WASI feature left out. The tests and the benchmarks build their
 * JavaScript components with it.
 *
 * @module
 */
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { componentize } from '@bytecodealliance/componentize-js';
import { COMPONENTIZE_DISABLED_FEATURES, workflowComponentSource } from '../engine/index.js';

/** The contract: at the repository's root, one folder up from here in the sources and two from `dist/tools`. */
export const WORKFLOW_WIT_PATH = ['../wit/workflow.wit', '../../wit/workflow.wit'].map((path) => fileURLToPath(new URL(path, import.meta.url))).find((path) => existsSync(path))!;

/** The component of a bundle (`bundleWorkflowCode`'s output). Takes seconds: SpiderMonkey is pre-initialised with the code. */
export async function componentizeWorkflow(bundle: string): Promise<Uint8Array> {
  const folder = mkdtempSync(join(tmpdir(), 'aion-component-'));
  try {
    const sourcePath = join(folder, 'workflow-component.js');
    writeFileSync(sourcePath, await workflowComponentSource(bundle));
    const { component } = await componentize({ sourcePath, witPath: WORKFLOW_WIT_PATH, worldName: 'workflow', disableFeatures: [...COMPONENTIZE_DISABLED_FEATURES] });
    return component;
  } finally {
    rmSync(folder, { recursive: true, force: true });
  }
}
