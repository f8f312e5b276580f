/**
 * The prebuilt guest runtime (`npm run build` writes it beside the built runtime entry): used
 * only while every file it was built from is unchanged, so a source edited after the build
 * never runs as the stale script.
 */
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildGuestRuntime } from '../../engine/bundler.js';
import { loadGuestRuntime, readPrebuiltRuntime, writePrebuiltRuntime } from '../../engine/guest-runtime.js';
import { tempDir } from '../helpers.js';

describe('prebuilt guest runtime', () => {
  it('is the script the build made, as long as every file it came from is unchanged', async () => {
    const built = await buildGuestRuntime();
    // The runtime's own modules, the workflow API's, and the bundler (whose options shape the output).
    expect(built.inputs.some((input) => /guest-sdk[/\\]runtime\.[jt]s$/.test(input))).toBe(true);
    expect(built.inputs.some((input) => /engine[/\\]bundler\.[jt]s$/.test(input))).toBe(true);
    expect(built.code).toBe(await loadGuestRuntime());
    const path = join(tempDir(), 'runtime.prebuilt.json');
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
    writeFileSync(beside, 'not json');
    expect(readPrebuiltRuntime(beside)).toBeUndefined();
  });
});
