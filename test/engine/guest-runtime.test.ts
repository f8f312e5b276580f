/**
 * The prebuilt guest runtime (`npm run build` writes it beside the built runtime entry): used
 * only while every file it was built from is unchanged, so a source edited after the build
 * never runs as the stale script.
 */
import { mkdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { buildGuestRuntime } from '../../engine/bundler.js';
import { loadGuestRuntime, readPrebuiltRuntime, writePrebuiltRuntime } from '../../engine/guest-runtime.js';
import { tempDir } from '../helpers.js';

describe('prebuilt guest runtime', () => {
  it('is the script the build made, as long as every file it came from is unchanged', async () => {
    const built = await buildGuestRuntime();
    // The runtime's own modules, the bundler (whose options shape the output) and esbuild's version.
    expect(built.inputs.some((input) => /guest-sdk[/\\]runtime\.[jt]s$/.test(input))).toBe(true);
    expect(built.inputs.some((input) => /engine[/\\]bundler\.[jt]s$/.test(input))).toBe(true);
    expect(built.inputs.some((input) => /node_modules[/\\]esbuild[/\\]package\.json$/.test(input))).toBe(true);
    expect(built.code).toBe(await loadGuestRuntime());
    // Another folder whose node_modules has the same packages: an install elsewhere.
    const dir = tempDir();
    symlinkSync(fileURLToPath(new URL('../../node_modules', import.meta.url)), join(dir, 'node_modules'));
    const path = join(dir, 'runtime.prebuilt.json');
    writePrebuiltRuntime(path, built);
    expect(readPrebuiltRuntime(path)).toBe(built.code);
  });

  it('is not used once a file it came from changed or is gone, nor when it is not one', () => {
    const dir = tempDir();
    const [first, second] = [join(dir, 'a.js'), join(dir, 'b.js')];
    writeFileSync(first, 'export const a = 1;');
    writeFileSync(second, 'export const b = 2;');
    const beside = join(dir, 'runtime.prebuilt.json');
    expect(readPrebuiltRuntime(beside)).toBeUndefined(); // none yet
    writePrebuiltRuntime(beside, { code: 'script', inputs: [first, second] });
    expect(readPrebuiltRuntime(beside)).toBe('script');

    writeFileSync(second, 'export const b = 3;');
    expect(readPrebuiltRuntime(beside)).toBeUndefined();
    writeFileSync(second, 'export const b = 2;');
    expect(readPrebuiltRuntime(beside)).toBe('script');
    rmSync(first);
    expect(readPrebuiltRuntime(beside)).toBeUndefined();

    writeFileSync(beside, '{"code": 42, "inputs": {}}');
    expect(readPrebuiltRuntime(beside)).toBeUndefined();
    writeFileSync(beside, '{"code": "script", "inputs": {}}'); // checks nothing
    expect(readPrebuiltRuntime(beside)).toBeUndefined();
    writeFileSync(beside, 'not json');
    expect(readPrebuiltRuntime(beside)).toBeUndefined();
  });

  it('finds a file of an installed package in the node_modules folders above, wherever the install placed it', () => {
    const built = tempDir();
    const installed = (root: string, content: string) => {
      mkdirSync(join(root, 'node_modules', '@scope', 'lib'), { recursive: true });
      writeFileSync(join(root, 'node_modules', '@scope', 'lib', 'index.js'), content);
      return join(root, 'node_modules', '@scope', 'lib', 'index.js');
    };
    // Built with the package nested in the package's own node_modules...
    const own = join(built, 'node_modules', 'aion', 'dist', 'guest-sdk');
    mkdirSync(own, { recursive: true });
    writeFileSync(join(own, 'runtime.js'), 'runtime');
    const path = join(own, 'runtime.prebuilt.json');
    writePrebuiltRuntime(path, { code: 'script', inputs: [join(own, 'runtime.js'), installed(join(built, 'node_modules', 'aion'), 'export default 1;')] });
    expect(readPrebuiltRuntime(path)).toBe('script');
    // ...then installed where npm hoists it: the top node_modules.
    rmSync(join(built, 'node_modules', 'aion', 'node_modules'), { recursive: true });
    expect(readPrebuiltRuntime(path)).toBeUndefined();
    installed(built, 'export default 1;');
    expect(readPrebuiltRuntime(path)).toBe('script');
    installed(built, 'export default 2;');
    expect(readPrebuiltRuntime(path)).toBeUndefined();
  });
});
