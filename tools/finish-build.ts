/**
 * The build's last step, after `tsc` (`npm run build`): copies the component boundary's
 * generated types beside the built modules, and prebuilds the guest runtime
 * (engine/guest-runtime.ts), so an engine opening from `dist` does not run esbuild.
 *
 * @module
 */
import { cpSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { writePrebuiltGuestRuntime } from '../engine/guest-runtime.js';

// Run from dist/tools: the package root is two folders up.
const root = new URL('../../', import.meta.url);
cpSync(fileURLToPath(new URL('sandbox/component/wit-types', root)), fileURLToPath(new URL('dist/sandbox/component/wit-types', root)), { recursive: true });
await writePrebuiltGuestRuntime();
