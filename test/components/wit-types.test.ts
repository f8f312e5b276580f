/** The boundary's TypeScript types (sandbox/component/wit-types) are what the contract (wit/workflow.wit) generates. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { generateWitTypes, WIT_TYPES_DIR } from '../../tools/wit-types.js';

it('the committed types of the component boundary match the WIT (npm run wit-types writes them)', async () => {
  const generated = await generateWitTypes();
  expect([...generated.keys()].sort()).toEqual(['interfaces/aion-workflow-guest.d.ts', 'interfaces/aion-workflow-host.d.ts', 'workflow.d.ts']);
  for (const [name, content] of generated) expect(readFileSync(join(WIT_TYPES_DIR, name), 'utf8'), name).toBe(content);
});
