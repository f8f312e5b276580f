/**
 * A debug realm: the guest runtime and a bundle evaluated in a `node:vm` context of the
 * host's own V8, where Node's inspector (Chrome DevTools, VS Code) can set breakpoints, stop
 * at `debugger;` statements and step, which it cannot do inside QuickJS.
 *
 * It offers the calls a workflow sandbox is driven through (`begin`, `evalScript`, `call`,
 * `runPendingJobs`) with the same deterministic clock: `Date` reads the time `begin` set, and
 * promise jobs run only when the host drains them. It is NOT a sandbox: no memory cap, no CPU
 * budget (a paused debugger would trip one), and `node:vm` is no security boundary. It is for
 * replaying your own bundles on your own machine, never for untrusted code.
 *
 * @module
 */
import { Script, createContext, type Context } from 'node:vm';
import { GuestEvaluationError, SandboxCrash } from './errors.js';

/**
 * Installs the deterministic clock in the realm and returns the setter the host keeps. Stack
 * traces keep more frames than V8's default 10, so a command's call site is found below the
 * runtime's own frames as in QuickJS.
 */
const REALM_SETUP = `(() => {
  Error.stackTraceLimit = 64;
  const RealDate = Date;
  let now = 0;
  const DeterministicDate = new Proxy(RealDate, {
    construct: (target, args, newTarget) => Reflect.construct(target, args.length === 0 ? [now] : args, newTarget),
    apply: () => new RealDate(now).toString(),
  });
  RealDate.now = () => now;
  RealDate.prototype.constructor = DeterministicDate;
  Object.defineProperty(globalThis, 'Date', { value: DeterministicDate, writable: true, configurable: true });
  return (time) => { now = time; };
})()`;

/** Promise prototypes of the debug realms (their rejections are the guest's, not the host's). */
const realmPromises = new WeakSet<object>();
let ignoringRealmRejections = false;

/**
 * Node tracks unhandled rejections per process, a realm's too, and by default ends the process
 * on one; in QuickJS a workflow's un-awaited rejected promise is nothing. Rejections of realm
 * promises are ignored; any other keeps Node's default (unless someone else listens).
 */
function ignoreRejectionsOf(promisePrototype: object): void {
  realmPromises.add(promisePrototype);
  if (ignoringRealmRejections) return;
  ignoringRealmRejections = true;
  process.on('unhandledRejection', function ignoreRealmRejection(reason, promise) {
    if (realmPromises.has(Object.getPrototypeOf(promise) as object)) return;
    if (process.listenerCount('unhandledRejection') === 1) throw reason;
  });
}

export class DebugRealm {
  private readonly context: Context;
  private readonly setTime: (time: number) => void;
  /** Evaluating it ends a V8 evaluation, which drains the realm's promise jobs ('afterEvaluate'). */
  private readonly drain = new Script('', { filename: 'aion-drain.js' });

  constructor() {
    // 'afterEvaluate': the realm's promise jobs wait for the host, as QuickJS's pending jobs do.
    this.context = createContext({}, { name: 'Aion workflow replay', microtaskMode: 'afterEvaluate' });
    this.setTime = new Script(REALM_SETUP, { filename: 'aion-realm-setup.js' }).runInContext(this.context) as (time: number) => void;
    ignoreRejectionsOf((new Script('Promise.prototype').runInContext(this.context)) as object);
  }

  /** Sets the time the guest sees until the next `begin` (no CPU budget: see the module). */
  begin(time: number): void {
    this.setTime(time);
  }

  /** Evaluates a script at global scope (its inline source map, if any, is the debugger's). A throw is a `GuestEvaluationError`. */
  evalScript(source: string, filename: string): void {
    try {
      new Script(source, { filename }).runInContext(this.context);
    } catch (error) {
      throw new GuestEvaluationError(describe(error), (error as Error | undefined)?.stack);
    }
  }

  /** Calls the global function `entry` with one string argument; it must return a string. */
  call(entry: string, argument: string): string {
    const fn = (this.context as Record<string, unknown>)[entry];
    if (typeof fn !== 'function') throw new SandboxCrash('guest-error', `${entry} is not a function in the realm`);
    let result: unknown;
    try {
      result = (fn as (argument: string) => unknown)(argument);
    } catch (error) {
      throw new SandboxCrash('guest-error', `${entry}: ${describe(error)}`, (error as Error | undefined)?.stack);
    }
    if (typeof result !== 'string') throw new SandboxCrash('guest-error', `${entry} did not return a string`);
    return result;
  }

  /** Runs the realm's promise jobs until none is left (a job that throws only rejects its promise, as in QuickJS). */
  runPendingJobs(): void {
    this.drain.runInContext(this.context);
  }
}

function describe(error: unknown): string {
  if (error && typeof error === 'object' && 'message' in error) return `${(error as Error).name ?? 'Error'}: ${(error as Error).message}`;
  return `a value that is not an Error was thrown: ${String(error)}`;
}
