/**
 * Debug replays (`replayHistory(…, { debug })`, `aion replay --inspect`): the bundle replays in
 * a debug realm of the host's V8 (sandbox/debug-realm.ts) instead of a QuickJS sandbox, so
 * Node's inspector can stop at breakpoints in the workflow's TypeScript (through the bundle's
 * source map) and at `debugger;` statements. The activations, the clock, the randomness and
 * the command checks are the replay's own: every divergence is still reported.
 *
 * For your own bundles on your own machine: the realm has no memory cap or CPU budget and is
 * no security boundary.
 *
 * @module
 */
import { resolve } from 'node:path';
import { BUNDLE_FILENAME, GUEST_ENTRY, type Activation } from '../common/protocol.js';
import { DebugRealm, GuestEvaluationError } from '../sandbox/index.js';
import { InvalidArgumentError } from './errors.js';
import { splitInlineSourceMap } from './source-maps.js';
import { BUNDLE_LINE_OFFSET, BundleLoadError, runActivation, wrapBundle, type ActivationTarget } from './workflow-sandbox.js';

export interface DebugReplayOptions {
  /** Stop once the bundle is loaded, before the first activation: the moment to set breakpoints in its sources. */
  breakOnLoad?: boolean;
  /** Stop before the activation that delivers each of these history events (1-based event ids). */
  breakAtEvent?: number | readonly number[];
  /** The folder the bundle was built in, against which debuggers open its sources from disk (default: the working directory). */
  sourceRoot?: string;
}

/** A bundle loaded in a debug realm, taking a replay's activations (and stopping where asked). */
export class DebugWorkflow implements ActivationTarget {
  private constructor(
    private readonly realm: DebugRealm,
    /** Event ids still to stop at, ascending. */
    private readonly breaks: number[],
  ) {}

  /** The guest runtime (`loadGuestRuntime`) and `bundle` evaluated in a new debug realm. */
  static create(runtimeSource: string, bundle: { code: string; sourceMap?: string }, historyLength: number, options: DebugReplayOptions = {}): DebugWorkflow {
    const breaks = checkBreaks(options.breakAtEvent, historyLength);
    const inline = splitInlineSourceMap(bundle.code);
    const realm = new DebugRealm();
    realm.begin(0);
    try {
      realm.evalScript(runtimeSource, 'aion-guest-runtime.js');
      realm.evalScript(debuggableBundle(inline.code, bundle.sourceMap ?? inline.sourceMap), resolve(options.sourceRoot ?? process.cwd(), BUNDLE_FILENAME));
      realm.runPendingJobs();
    } catch (error) {
      if (error instanceof GuestEvaluationError) throw new BundleLoadError(`the bundle failed to evaluate: ${error.message}`);
      throw error;
    }
    if ((JSON.parse(realm.call(GUEST_ENTRY.workflowTypes, '')) as string[]).length === 0) throw new BundleLoadError('the bundle exports no workflow function');
    const workflow = new DebugWorkflow(realm, breaks);
    if (options.breakOnLoad) workflow.pause('the workflow bundle is loaded and its replay is about to start: set breakpoints in its sources, then resume', {});
    return workflow;
  }

  activate(activation: Activation): string {
    // The activation delivers the events recorded up to the one after `historyLength`.
    const delivers = activation.historyLength + 1;
    const reached: number[] = [];
    while (this.breaks.length > 0 && this.breaks[0] <= delivers) reached.push(this.breaks.shift()!);
    if (reached.length > 0) {
      this.pause(`--break-at-event ${reached.join(',')}: the next activation delivers the history up to event ${delivers} (its jobs are in \`activation\`); resume or step on into your breakpoints`, { activation });
    }
    return runActivation(this.realm, activation);
  }

  dispose(): void {}

  /** A `debugger;` stop in a small script whose scope shows `values`, with the reason beside it. */
  private pause(reason: string, values: Record<string, unknown>): void {
    // Parsed from JSON text: history data may hold any key, `__proto__` too.
    const bindings = Object.entries(values).map(([name, value]) => `  const ${name} = JSON.parse(${JSON.stringify(JSON.stringify(value))});\n`);
    this.realm.evalScript(`{\n${bindings.join('')}  debugger; // Aion: ${reason.replace(/\n/g, ' ')}\n}\n`, 'aion-replay-break.js');
  }
}

/** The event ids to stop at, ascending; each must be an event of the history. */
function checkBreaks(breakAtEvent: DebugReplayOptions['breakAtEvent'], historyLength: number): number[] {
  const breaks = breakAtEvent === undefined ? [] : typeof breakAtEvent === 'number' ? [breakAtEvent] : [...breakAtEvent];
  for (const eventId of breaks) {
    if (!Number.isInteger(eventId) || eventId < 1 || eventId > historyLength) throw new InvalidArgumentError(`the events to break at are events of the history (1 to ${historyLength}), got ${String(eventId)}`);
  }
  return breaks.sort((a, b) => a - b);
}

/**
 * The bundle as the sandbox evaluates it (inside the loader's wrapper), with its source map
 * shifted by the wrapper's lines and inline, where the debugger reads it.
 */
function debuggableBundle(code: string, sourceMap: string | undefined): string {
  const wrapped = wrapBundle(code);
  if (sourceMap === undefined) return wrapped;
  const map = JSON.parse(sourceMap) as { mappings: string };
  map.mappings = ';'.repeat(BUNDLE_LINE_OFFSET) + map.mappings;
  return `${wrapped}\n//# sourceMappingURL=data:application/json;base64,${Buffer.from(JSON.stringify(map)).toString('base64')}\n`;
}
