/**
 * A JavaScript workflow as a WebAssembly component: the ES module that
 * `@bytecodealliance/componentize-js` makes into a component of the `workflow` world
 * (wit/workflow.wit). It holds the same guest runtime and bundle a QuickJS sandbox evaluates,
 * and exports the guest interface as calls of the runtime's entry points, so a workflow
 * behaves and records the same in both kinds of sandbox.
 *
 * The component imports nothing but the host interface when built with
 * `disableFeatures: ['random', 'clocks', 'stdio', 'http', 'fetch-event']`. Without a clock
 * import, the engine's `Date` would answer the time the component was built: the module
 * replaces it with one that answers the activation's time (the runtime then pins it, as it
 * pins QuickJS's). `Math.random` and `crypto` are the runtime's seeded ones already.
 *
 * @module
 */
import { GUEST_ENTRY } from '../common/protocol.js';
import { loadGuestRuntime } from './guest-runtime.js';
import { splitInlineSourceMap } from './source-maps.js';
import { wrapBundle } from './workflow-sandbox.js';

/** The features componentize-js must leave out: a workflow component may import nothing that reaches the outside. */
export const COMPONENTIZE_DISABLED_FEATURES = ['random', 'clocks', 'stdio', 'http', 'fetch-event'] as const;

const ACTIVATION_CLOCK = `
const HostDate = Date;
let activationTime = 0;
function WorkflowDate(...args) {
  if (!new.target) return new HostDate(activationTime).toString();
  return args.length === 0 ? new HostDate(activationTime) : new HostDate(...args);
}
WorkflowDate.prototype = HostDate.prototype;
WorkflowDate.now = () => activationTime;
WorkflowDate.parse = HostDate.parse;
WorkflowDate.UTC = HostDate.UTC;
globalThis.Date = WorkflowDate;
`;

/** The component's module source for a bundle (`bundleWorkflowCode`'s output): give it to componentize-js. */
export async function workflowComponentSource(bundle: string): Promise<string> {
  const { code } = splitInlineSourceMap(bundle);
  const entry = (name: string) => `globalThis[${JSON.stringify(name)}]`;
  return `${ACTIVATION_CLOCK}
${await loadGuestRuntime()}
${wrapBundle(code)}
export const guest = {
  workflowTypes: () => ${entry(GUEST_ENTRY.workflowTypes)}(''),
  activate(activation) {
    activationTime = JSON.parse(activation).time;
    ${entry(GUEST_ENTRY.activate)}(activation);
  },
  advance: () => ${entry(GUEST_ENTRY.advance)}(''),
  query: (request) => ${entry(GUEST_ENTRY.query)}(request),
  validateUpdate: (request) => ${entry(GUEST_ENTRY.validateUpdate)}(request),
};
`;
}
