import type { Activator } from './internals.js';

/** The one workflow run of this sandbox (set by the guest runtime at load). */
let activator: Activator | undefined;

export function setActivator(value: Activator): void {
  activator = value;
}

export function hasActivator(): boolean {
  return activator !== undefined;
}

export function getActivator(): Activator {
  if (!activator) {
    throw new Error('aion/workflow functions can only be called from workflow code running in an Aion sandbox');
  }
  return activator;
}
