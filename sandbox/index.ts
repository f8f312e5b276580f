export { Sandbox } from './sandbox.js';
export { SandboxTemplate } from './template.js';
export { QuickJSWasm, type GuestClock } from './quickjs-wasm.js';
export { DEFAULT_LIMITS, validateLimits, type SandboxLimits } from './limits.js';
export { SandboxCrash, GuestEvaluationError, type SandboxCrashKind } from './errors.js';
export { PAGE_SIZE, captureImage, nonZeroPages, writeImage, type MemoryImage } from './memory-image.js';
export { observeGuestCalls } from './watchdog.js';
export { DebugRealm } from './debug-realm.js';
