/**
 * Hardens the sandbox's globals before any bundle code runs.
 *
 * The clock and the time zone are already deterministic below JavaScript (the host replaces
 * QuickJS's clock and localtime imports: sandbox/quickjs-wasm.ts). Here: seeded randomness,
 * durable `setTimeout`, `console` routed to the workflow log, async-context propagation,
 * removal of what observes the garbage collector or shares memory, and pinning of the
 * globals the runtime relies on so bundle code can neither replace nor delete them.
 *
 * @module
 */
import { installPromiseContextPropagation } from './async-context.js';
import { CancellationScope } from './cancellation-scope.js';
import type { Activator } from './internals.js';
import { toMs } from '../common/time.js';

const REMOVED_GLOBALS = ['WeakRef', 'FinalizationRegistry', 'SharedArrayBuffer', 'Atomics', 'WebAssembly'];
/** Frozen once the runtime is installed: their methods cannot be replaced. */
const BOUNDARY_INTRINSICS: object[] = [JSON, Reflect, Math, Object, Array, Promise, Map, Set, Array.prototype, Map.prototype, Set.prototype, Promise.prototype];

function pin(target: object, name: string, value: unknown): void {
  Object.defineProperty(target, name, { value, writable: false, configurable: false, enumerable: false });
}

/**
 * QuickJS (2025-09-13) lets `Object.defineProperty` replace the value of a non-writable,
 * non-configurable property of the global object, against the spec (plain objects are
 * fine). The define functions are wrapped to refuse that, as the spec says they must.
 */
function guardGlobalDefinitions(): void {
  const isFrozenRedefinition = (target: object, key: PropertyKey, descriptor: PropertyDescriptor): boolean => {
    if (target !== globalThis) return false;
    const existing = Object.getOwnPropertyDescriptor(target, key);
    if (!existing || existing.configurable || existing.writable !== false) return false;
    const same = (field: keyof PropertyDescriptor) => !(field in descriptor) || Object.is(descriptor[field], existing[field]);
    return !(same('value') && same('writable') && same('configurable') && same('enumerable') && !('get' in descriptor) && !('set' in descriptor));
  };
  const originalDefine = Object.defineProperty;
  const originalDefineAll = Object.defineProperties;
  const originalReflectDefine = Reflect.defineProperty;
  pin(Object, 'defineProperty', function defineProperty(target: object, key: PropertyKey, descriptor: PropertyDescriptor) {
    if (isFrozenRedefinition(target, key, descriptor)) throw new TypeError(`cannot redefine property: ${String(key)}`);
    return originalDefine(target, key, descriptor);
  });
  pin(Object, 'defineProperties', function defineProperties(target: object, descriptors: PropertyDescriptorMap) {
    for (const key of Reflect.ownKeys(descriptors)) {
      if (isFrozenRedefinition(target, key, (descriptors as Record<PropertyKey, PropertyDescriptor>)[key])) throw new TypeError(`cannot redefine property: ${String(key)}`);
    }
    return originalDefineAll(target, descriptors);
  });
  pin(Reflect, 'defineProperty', function defineProperty(target: object, key: PropertyKey, descriptor: PropertyDescriptor) {
    return isFrozenRedefinition(target, key, descriptor) ? false : originalReflectDefine(target, key, descriptor);
  });
}

export function installGlobalOverrides(activator: Activator): void {
  const global = globalThis as unknown as Record<string, unknown>;
  for (const name of REMOVED_GLOBALS) delete global[name];
  guardGlobalDefinitions();

  installPromiseContextPropagation();
  pin(Math, 'random', function random() {
    return activator.random.next();
  });
  pin(Date, 'now', Date.now);
  for (const name of ['Promise', 'Math', 'Date', 'JSON', 'Object', 'Array', 'Function', 'Reflect', 'Proxy']) {
    pin(global, name, global[name]);
  }

  const timers = new Map<number, CancellationScope>();
  let nextTimerId = 1;
  pin(global, 'setTimeout', function setTimeout(callback: (...args: unknown[]) => void, ms = 0, ...args: unknown[]): number {
    const id = nextTimerId++;
    const scope = new CancellationScope({ cancellable: true });
    timers.set(id, scope);
    scope
      .run(() => activator.startTimer(toMs(Math.max(0, Number(ms) || 0))))
      .then(
        () => {
          timers.delete(id);
          callback(...args);
        },
        () => timers.delete(id),
      );
    return id;
  });
  pin(global, 'clearTimeout', function clearTimeout(id: number): void {
    timers.get(id)?.cancel();
    timers.delete(id);
  });

  const consoleAt = (level: 'debug' | 'info' | 'warn' | 'error') =>
    function log(...parts: unknown[]) {
      activator.log(level, parts.map((part) => (typeof part === 'string' ? part : safeStringify(part))).join(' '));
    };
  pin(global, 'console', Object.freeze({ log: consoleAt('info'), info: consoleAt('info'), debug: consoleAt('debug'), warn: consoleAt('warn'), error: consoleAt('error') }));

  pin(global, 'crypto', Object.freeze({
    randomUUID: () => activator.random.uuid4(),
    getRandomValues<T extends ArrayBufferView>(array: T): T {
      activator.random.fillBytes(new Uint8Array(array.buffer, array.byteOffset, array.byteLength));
      return array;
    },
  }));

  // Last: what the runtime relies on to keep its state and to serialise what leaves the
  // sandbox cannot be replaced by bundle code (the host still validates everything).
  for (const intrinsic of BOUNDARY_INTRINSICS) Object.freeze(intrinsic);
}

function safeStringify(value: unknown): string {
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}
