/**
 * Bundles' source maps: split off the bundle when it is deployed (the sandbox evaluates the
 * code alone; an inline map would sit in every sandbox's memory), and used to turn the
 * sandbox's `workflow-bundle.js:line:column` frames into the workflow's own files and lines.
 *
 * @module
 */
import { originalPositionFor, sourceContentFor, TraceMap } from '@jridgewell/trace-mapping';
import { BUNDLE_FILENAME, type Command, type FailureInfo } from '../common/protocol.js';
import { BUNDLE_LINE_OFFSET } from './workflow-sandbox.js';

const INLINE_MAP = /\n\/\/# sourceMappingURL=data:application\/json;base64,([A-Za-z0-9+/=]+)\s*$/;

/** A bundle's code without its inline source map, and the map (JSON) if it had one. */
export function splitInlineSourceMap(bundle: string): { code: string; sourceMap?: string } {
  const match = INLINE_MAP.exec(bundle);
  if (!match) return { code: bundle };
  return { code: bundle.slice(0, match.index + 1), sourceMap: Buffer.from(match[1], 'base64').toString('utf8') };
}

/** A bundle given with its map inline or beside it: the code to evaluate, and what maps its locations. */
export function splitBundle(bundle: { code: string; sourceMap?: string }): { code: string; locator: BundleLocator } {
  const { code, sourceMap } = splitInlineSourceMap(bundle.code);
  return { code, locator: new BundleLocator(bundle.sourceMap ?? sourceMap) };
}

/** A place in a file: 1-based line and column, as stack traces print them. */
export interface SourceLocation {
  file: string;
  line: number;
  column: number;
}

/** One frame of a stack trace as QuickJS prints it: `    at name (file:line:column)`. */
const FRAME = /^(\s*at )(?:(.*?) \()?([^()\s]+):(\d+):(\d+)\)?$/;

export interface StackFrame extends SourceLocation {
  /** What precedes the name (`    at `). */
  prefix: string;
  name?: string;
}

export function parseFrame(text: string): StackFrame | undefined {
  const match = FRAME.exec(text);
  if (!match) return undefined;
  const [, prefix, name, file, line, column] = match;
  return { prefix, ...(name ? { name } : {}), file, line: Number(line), column: Number(column) };
}

/** A frame as stack traces print it; an anonymous function's frame is its location alone. */
const formatFrame = ({ prefix, name, file, line, column }: StackFrame): string =>
  name && name !== '<anonymous>' ? `${prefix}${name} (${file}:${line}:${column})` : `${prefix}${file}:${line}:${column}`;

/** The bundle's frames: `workflow-bundle.js` in a sandbox, an absolute path ending in it in a debug replay. */
const isBundleFile = (file: string): boolean => file === BUNDLE_FILENAME || file.endsWith(`/${BUNDLE_FILENAME}`);

/** A frame of QuickJS's own functions (`    at next (native)`): nothing of the workflow's. */
const NATIVE_FRAME = /^\s*at .* \(native\)$/;

/**
 * Maps locations in a version's bundle to the workflow's sources. Without a source map it
 * still corrects the lines for the wrapper the sandbox evaluates the bundle in.
 */
export class BundleLocator {
  private readonly map: TraceMap | undefined;

  constructor(sourceMap: string | undefined) {
    this.map = sourceMap === undefined ? undefined : parseMap(sourceMap);
  }

  /**
   * Where a frame of the sandbox's bundle comes from; undefined for code the source map
   * has nothing for (the bundler's helpers) or that is not the workflow's own (the API).
   */
  locate(line: number, column: number): (SourceLocation & { name?: string }) | undefined {
    const bundleLine = line - BUNDLE_LINE_OFFSET;
    if (!this.map) return { file: BUNDLE_FILENAME, line: bundleLine, column };
    const original = originalPositionFor(this.map, { line: bundleLine, column: Math.max(column - 1, 0) });
    if (original.source === null || isApiModule(original.source)) return undefined;
    return { file: original.source, line: original.line, column: original.column + 1, ...(original.name ? { name: original.name } : {}) };
  }

  /** A command's call site in the bundle (`line:column`) as `file:line` of the workflow's source, if it maps there. */
  callSite(position: string): string | undefined {
    const [line, column] = position.split(':').map(Number);
    const location = this.locate(line, column);
    return location && `${location.file}:${location.line}`;
  }

  /**
   * A failure and its causes with the stacks from this bundle mapped (see `mapStack`). The
   * cause of an activity's or a child's failure came from elsewhere (already located, if it
   * was workflow code): it is left as it is.
   */
  locateFailure(failure: FailureInfo): FailureInfo {
    const stack = failure.stack?.includes(BUNDLE_FILENAME) ? this.mapStack(failure.stack) : failure.stack;
    const remoteCause = failure.failureType === 'ActivityFailure' || failure.failureType === 'ChildWorkflowFailure';
    return { ...failure, ...(stack !== undefined ? { stack } : {}), ...(failure.cause && !remoteCause ? { cause: this.locateFailure(failure.cause) } : {}) };
  }

  /** A file's text, if the source map carries it. */
  content(file: string): string | undefined {
    return (this.map && sourceContentFor(this.map, file)) ?? undefined;
  }

  /**
   * A stack trace with the bundle's frames mapped to the sources; frames of the bundler's
   * helpers and of the engine's own runtime are left out (they say nothing about the workflow).
   *
   * An async function is lowered to a named wrapper that passes an anonymous generator to the
   * `__async` helper: the generator's frame (where the code is) takes the wrapper's name, and
   * the wrapper's frame (the function's first line) goes.
   */
  mapStack(stack: string): string {
    const lines: string[] = [];
    let last: StackFrame | undefined;
    let generatorBody: StackFrame | undefined;
    for (const text of stack.split('\n')) {
      if (NATIVE_FRAME.test(text)) continue;
      const frame = parseFrame(text);
      if (!frame) {
        lines.push(text);
        last = undefined;
        continue;
      }
      if (!isBundleFile(frame.file)) continue;
      if (frame.name === ASYNC_HELPER) {
        generatorBody = last?.name === '<anonymous>' ? last : undefined;
        continue;
      }
      const location = this.locate(frame.line, frame.column);
      if (!location) continue;
      if (generatorBody && frame.name) {
        generatorBody.name = frame.name;
        lines[lines.length - 1] = formatFrame(generatorBody);
        generatorBody = undefined;
        continue;
      }
      generatorBody = undefined;
      last = { prefix: frame.prefix, ...(frame.name ? { name: frame.name } : {}), ...location };
      lines.push(formatFrame(last));
    }
    return lines.join('\n');
  }
}

/**
 * An activation's failures — of the commands that carry one, and of a failed task — with the
 * workflow's frames of their stacks mapped to its sources (stacks from elsewhere, an
 * activity's, are left as they are).
 */
export function locateFailures(commands: Command[], taskFailure: FailureInfo | undefined, locator: BundleLocator): { commands: Command[]; taskFailure?: FailureInfo } {
  const located = commands.map((command) => ('failure' in command && command.failure ? { ...command, failure: locator.locateFailure(command.failure) } : command));
  return { commands: located, ...(taskFailure ? { taskFailure: locator.locateFailure(taskFailure) } : {}) };
}

/** Whether any of an activation's results carries a failure whose stack `locateFailures` would map. */
export const hasFailures = (commands: Command[], taskFailure: FailureInfo | undefined): boolean => taskFailure !== undefined || commands.some((command) => 'failure' in command && command.failure !== undefined);

/** The first frame of a stack (`name (file:line:column)`), if it has one. */
export function topFrame(stack: string | undefined): string | undefined {
  for (const line of stack?.split('\n') ?? []) if (parseFrame(line)) return line.trim().replace(/^at /, '');
  return undefined;
}

/** esbuild's helper running a lowered async function's generator. */
const ASYNC_HELPER = '__async';

/** The workflow API's virtual modules, which the bundler names `aion-api:<specifier>`. */
const isApiModule = (source: string): boolean => source.startsWith('aion-api:');

function parseMap(json: string): TraceMap | undefined {
  try {
    return new TraceMap(json);
  } catch {
    return undefined; // a damaged map costs the mapping, never the run
  }
}
