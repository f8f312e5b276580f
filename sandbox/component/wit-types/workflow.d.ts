// world aion:workflow/workflow@0.1.0
import type * as AionWorkflowHost from './interfaces/aion-workflow-host.js'; // aion:workflow/host@0.1.0
import type * as AionWorkflowGuest from './interfaces/aion-workflow-guest.js'; // aion:workflow/guest@0.1.0
export interface ImportObject {
  'aion:workflow/host@0.1.0': typeof AionWorkflowHost,
}
export interface Workflow {
  'aion:workflow/guest@0.1.0': typeof AionWorkflowGuest,
  guest: typeof AionWorkflowGuest,
}

/**
* Instantiates this component with the provided imports and
* returns a map of all the exports of the component.
*
* This function is intended to be similar to the
* `WebAssembly.Instantiate` constructor. The second `imports`
* argument is the "import object" for wasm, except here it
* uses component-model-layer types instead of core wasm
* integers/numbers/etc.
*
* The first argument to this function, `getCoreModule`, is
* used to compile core wasm modules within the component.
* Components are composed of core wasm modules and this callback
* will be invoked per core wasm module. The caller of this
* function is responsible for reading the core wasm module
* identified by `path` and returning its compiled
* `WebAssembly.Module` object. This would use the
* `WebAssembly.Module` constructor on the web, for example.
*/
export function instantiate(
getCoreModule: (path: string) => WebAssembly.Module,
imports: ImportObject,
instantiateCore?: (module: WebAssembly.Module, imports: Record<string, any>) => WebAssembly.Instance
): Workflow;

