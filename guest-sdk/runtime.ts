/**
 * Entry of the guest runtime script, which the host evaluates in every sandbox before the
 * bundle: hardens the globals, creates the run's Activator and defines the entry points
 * listed in `GUEST_ENTRY` (non-writable, non-configurable). Bundled by esbuild with async
 * functions lowered, like workflow bundles (engine/bundler).
 *
 * @module
 */
import { setActivator } from './global-attributes.js';
import { installGlobalOverrides } from './global-overrides.js';
import * as workflowApi from './index.js';
import { Activator } from './internals.js';
import { ADVANCE_AGAIN, GUEST_ENTRY, type Activation } from '../common/protocol.js';

/** Modules a bundle may `require`: the workflow API under both its names. */
const API_MODULES = new Set(['aion/workflow', '@temporalio/workflow']);

type BundleFactory = (module: { exports: Record<string, unknown> }, exports: Record<string, unknown>, require: (name: string) => unknown) => void;

const activator = new Activator();
setActivator(activator);
installGlobalOverrides(activator);
const api = Object.freeze({ ...workflowApi });

function defineEntry(name: string, fn: (...args: never[]) => unknown): void {
  Object.defineProperty(globalThis, name, { value: fn, writable: false, configurable: false, enumerable: false });
}

let bundleLoaded = false;
defineEntry(GUEST_ENTRY.loadBundle, (factory: BundleFactory) => {
  if (bundleLoaded) throw new Error('a bundle is already loaded in this sandbox');
  bundleLoaded = true;
  const module = { exports: {} as Record<string, unknown> };
  factory(module, module.exports, function require(name: string) {
    if (API_MODULES.has(name)) return api;
    throw new Error(`module '${name}' is not available in the workflow sandbox: workflow code may only import aion/workflow (or @temporalio/workflow)`);
  });
  activator.loadBundle(module.exports);
});
defineEntry(GUEST_ENTRY.workflowTypes, () => JSON.stringify(activator.workflowTypes()));
defineEntry(GUEST_ENTRY.activate, (json: string) => {
  activator.beginActivation(JSON.parse(json) as Activation);
  return '';
});
defineEntry(GUEST_ENTRY.advance, () => (activator.advance() ? ADVANCE_AGAIN : JSON.stringify(activator.concludeActivation())));
defineEntry(GUEST_ENTRY.query, (json: string) => {
  const { name, args } = JSON.parse(json) as { name: string; args: unknown[] };
  return JSON.stringify(activator.query(name, args));
});
defineEntry(GUEST_ENTRY.validateUpdate, (json: string) => {
  const { updateId, name, args } = JSON.parse(json) as { updateId: string; name: string; args: unknown[] };
  return JSON.stringify(activator.validateUpdate(updateId, name, args));
});
