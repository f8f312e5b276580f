/**
 * From a component's bytes to what a sandbox thread instantiates: the component's imports and
 * exports are checked against the contract, then jco transpiles it (in this process) into its
 * core modules and the JavaScript that wires them together, in jco's instantiation mode: the
 * host passes in every import and creates every core instance itself.
 *
 * @module
 */
import { readFileSync } from 'node:fs';
import { guestCallEnded, guestCallStarted } from '../watchdog.js';

/** The interface a workflow component exports, and the one it may import from the host (wit/workflow.wit). */
export const GUEST_INTERFACE = 'aion:workflow/guest@0.1.0';
const HOST_INTERFACE = 'aion:workflow/host@0.1.0';

/**
 * What a workflow component may import: the host's interface and the clock and random
 * sources the host answers deterministically (sandbox/component/host-imports.ts). Versions
 * 0.2.x of WASI share these functions' signatures.
 */
const ALLOWED_IMPORTS: RegExp[] = [/^aion:workflow\/host@0\.1\.0$/, /^wasi:clocks\/wall-clock@0\.2\.\d+$/, /^wasi:random\/(random|insecure|insecure-seed)@0\.2\.\d+$/];
const ALLOWED_IMPORTS_TEXT = 'aion:workflow/host@0.1.0, wasi:clocks/wall-clock@0.2.x, wasi:random/random@0.2.x, wasi:random/insecure@0.2.x, wasi:random/insecure-seed@0.2.x';

/** A component refused before it runs: not a component, or one whose imports or exports break the contract. */
export class ComponentError extends Error {
  override name = 'ComponentError';
}

/** A component as jco transpiled it: its ES module of glue and its core modules by file name. */
export interface TranspiledComponent {
  glue: string;
  coreModules: Record<string, Uint8Array>;
}

const COMPONENT_HEADER = [0x00, 0x61, 0x73, 0x6d, 0x0d, 0x00, 0x01, 0x00];
const CORE_MODULE_HEADER = [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00];
const startsWith = (bytes: Uint8Array, header: number[]): boolean => header.every((byte, i) => bytes[i] === byte);

/** The glue's file name (jco names files after `name`). */
const GLUE_NAME = 'workflow';

type Jco = typeof import('@bytecodealliance/jco');
let jco: Promise<Jco> | undefined;
/** jco is loaded when the first component is (it is large, and most engines never run one). */
const loadJco = (): Promise<Jco> => (jco ??= import('@bytecodealliance/jco'));

/**
 * How long checking and transpiling one component may take (a 12 MiB one takes 1–3 s): the
 * sandbox thread's watchdog stops a thread stuck on crafted bytes.
 */
const TRANSPILE_BUDGET_MS = 60_000;

/** Checks `bytes` is a workflow component and transpiles it; a `ComponentError` names what is wrong. */
export async function transpileComponent(bytes: Uint8Array): Promise<TranspiledComponent> {
  guestCallStarted(performance.now() + TRANSPILE_BUDGET_MS);
  try {
    return await checkAndTranspile(bytes);
  } finally {
    guestCallEnded();
  }
}

async function checkAndTranspile(bytes: Uint8Array): Promise<TranspiledComponent> {
  if (startsWith(bytes, CORE_MODULE_HEADER)) {
    throw new ComponentError('this is a core WebAssembly module, not a component: make it a component against the aion:workflow world (wit/workflow.wit), for example with `jco new` or `wasm-tools component new`');
  }
  if (!startsWith(bytes, COMPONENT_HEADER)) throw new ComponentError('this is not a WebAssembly component (its first 8 bytes are not a component header)');
  const { componentWit, transpile } = await loadJco();
  let world: string;
  try {
    world = await componentWit(bytes);
  } catch (error) {
    throw new ComponentError(`the component cannot be read: ${firstLine(error)}`);
  }
  checkWorld(world);
  let transpiled: Awaited<ReturnType<Jco['transpile']>>;
  try {
    transpiled = await transpile(bytes, { name: GLUE_NAME, instantiation: 'sync', quiet: true });
  } catch (error) {
    throw new ComponentError(`jco cannot transpile the component: ${firstLine(error)}`);
  }
  checkInterfaces(transpiled.files);
  const coreModules: Record<string, Uint8Array> = {};
  for (const [file, content] of Object.entries(transpiled.files)) if (file.endsWith('.wasm')) coreModules[file] = content;
  return { glue: Buffer.from(transpiled.files[`${GLUE_NAME}.js`]).toString('utf8'), coreModules };
}

/**
 * The contract's interfaces as the component declares them must be the contract's, function
 * for function: names alone would let an export be async (running on outside any budget), or
 * take resources (whose handles live in the glue, outside a snapshot). jco's TypeScript
 * declarations of both, without comments, are compared.
 */
function checkInterfaces(files: Record<string, Uint8Array>): void {
  for (const [name, file] of CONTRACT_DECLARATIONS) {
    const declared = files[file];
    // The host interface may be left out: a component that never logs does not import it.
    if (declared === undefined && name === HOST_INTERFACE) continue;
    if (declared === undefined || signatures(Buffer.from(declared).toString('utf8')) !== signatures(readFileSync(new URL(`./wit-types/${file}`, import.meta.url), 'utf8'))) {
      throw new ComponentError(`the component's ${name} is not the contract's (wit/workflow.wit): build it against that WIT, with the same functions and types`);
    }
  }
}

const CONTRACT_DECLARATIONS = [
  [GUEST_INTERFACE, 'interfaces/aion-workflow-guest.d.ts'],
  [HOST_INTERFACE, 'interfaces/aion-workflow-host.d.ts'],
] as const;

/** A declaration file without its comments and with its whitespace collapsed. */
const signatures = (declarations: string): string =>
  declarations
    .replace(/\/\*[\s\S]*?\*\//g, '')
    .replace(/\/\/.*$/gm, '')
    .replace(/\s+/g, ' ')
    .trim();

/** Refuses a world (as `componentWit` prints it) that imports what a workflow may not, or does not export the guest interface. */
function checkWorld(world: string): void {
  const lines = world.split('\n').map((line) => line.trim());
  const imports = lines.filter((line) => line.startsWith('import ')).map((line) => line.slice('import '.length).replace(/;$/, ''));
  const refused = imports.filter((name) => !ALLOWED_IMPORTS.some((allowed) => allowed.test(name)));
  if (refused.length > 0) {
    throw new ComponentError(
      `the component imports ${refused.map((name) => `'${name}'`).join(', ')}, which a workflow may not use: it reaches the outside world only through activities (a workflow may import ${ALLOWED_IMPORTS_TEXT})`,
    );
  }
  const exports = lines.filter((line) => line.startsWith('export '));
  if (!exports.includes(`export ${GUEST_INTERFACE};`)) {
    throw new ComponentError(`the component does not export ${GUEST_INTERFACE}: build it against the aion:workflow world (wit/workflow.wit)`);
  }
  if (exports.length > 1) {
    const others = exports.filter((line) => line !== `export ${GUEST_INTERFACE};`).map((line) => `'${line.slice('export '.length).replace(/;$/, '')}'`);
    throw new ComponentError(`the component exports ${others.join(', ')} besides ${GUEST_INTERFACE}: a workflow component exports the guest interface only`);
  }
}

const firstLine = (error: unknown): string => String(error instanceof Error ? error.message : error).split('\n')[0];
