/**
 * The built-in stack trace queries, in Temporal's two forms. The guest answers
 * `__stack_trace` with its pending operations' stacks in bundle locations; the engine maps
 * them to the workflow's sources and, for `__enhanced_stack_trace`, structures them and adds
 * the sources of the files they name.
 *
 * @module
 */
import { ENHANCED_STACK_TRACE_QUERY, STACK_TRACE_QUERY, type EnhancedStackTrace, type StackTraceFileLocation } from '../common/protocol.js';
import { parseFrame, type BundleLocator } from './source-maps.js';

export const isStackTraceQuery = (name: string): boolean => name === STACK_TRACE_QUERY || name === ENHANCED_STACK_TRACE_QUERY;

/** What the engine asks the guest for a built-in query (both stack trace forms start from the same text). */
export const guestQueryName = (name: string): string => (name === ENHANCED_STACK_TRACE_QUERY ? STACK_TRACE_QUERY : name);

/** Who produced the answer; `version` is that of this answer's format, not of the package. */
const SDK = { name: 'aion', version: '1' };

/**
 * The answer to a stack trace query from the guest's text. Sources are included while they
 * fit in `maxSourceBytes` (a query result is bounded like any payload).
 */
export function answerStackTraceQuery(name: string, guestStacks: string, locator: BundleLocator, maxSourceBytes: number): string | EnhancedStackTrace {
  const stacks = guestStacks === '' ? [] : guestStacks.split('\n\n').map((stack) => locator.mapStack(stack)).filter((stack) => stack !== '');
  const unique = [...new Set(stacks)];
  if (name === STACK_TRACE_QUERY) return unique.join('\n\n');
  const structured = unique.map((stack) => ({ locations: stack.split('\n').map(toLocation) }));
  const sources: EnhancedStackTrace['sources'] = {};
  let budget = maxSourceBytes;
  for (const file of new Set(structured.flatMap(({ locations }) => locations.map((location) => location.file_path)))) {
    const content = file === undefined ? undefined : locator.content(file);
    const bytes = content === undefined ? 0 : Buffer.byteLength(JSON.stringify(content));
    if (file === undefined || content === undefined || bytes > budget) continue;
    budget -= bytes;
    sources[file] = [{ line_offset: 0, content }];
  }
  return { sdk: SDK, stacks: structured, sources };
}

function toLocation(text: string): StackTraceFileLocation {
  const frame = parseFrame(text);
  if (!frame) return { function_name: text.trim(), internal_code: false };
  const { name, file, line, column } = frame;
  return { file_path: file, line, column, ...(name && name !== '<anonymous>' ? { function_name: name } : {}), internal_code: false };
}
