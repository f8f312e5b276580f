/**
 * The TypeScript types of the component boundary, generated from the contract
 * (wit/workflow.wit) by jco's type generator into sandbox/component/wit-types/. The host's
 * side of the boundary is typed with them (sandbox/component/compiled-component.ts), so a
 * change to the WIT the host does not follow fails the typecheck; a test checks the committed
 * files are what the WIT generates today. `npm run wit-types` writes them again.
 *
 * @module
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { $init, generateTypes } from '@bytecodealliance/jco-transpile/component';

const WIT_PATH = fileURLToPath(new URL('../wit/workflow.wit', import.meta.url));
export const WIT_TYPES_DIR = fileURLToPath(new URL('../sandbox/component/wit-types/', import.meta.url));

/** The declaration files the WIT's `workflow` world generates, by path under the types folder. */
export async function generateWitTypes(): Promise<Map<string, string>> {
  await $init;
  // Given as source: jco's bundled wasm-tools cannot read a path without WASI preopens.
  const files = generateTypes('workflow', { wit: { tag: 'source', val: readFileSync(WIT_PATH, 'utf8') }, world: 'workflow', instantiation: { tag: 'sync' } });
  return new Map(files.map(([name, content]) => [name, Buffer.from(content).toString('utf8')]));
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  for (const [name, content] of await generateWitTypes()) {
    const path = join(WIT_TYPES_DIR, name);
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, content);
    process.stdout.write(`wrote ${path}\n`);
  }
}
