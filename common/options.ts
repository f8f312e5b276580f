/**
 * The one rule for options objects, on both sides of the sandbox: a key this engine does not
 * know — a typo, or a Temporal option not supported here — is refused by name rather than
 * silently ignored.
 *
 * @module
 */

/** The problems of `options` as messages naming them: not an object, or keys outside `known`. */
export function unknownOptions(options: unknown, known: readonly string[], what: string): string[] {
  if (typeof options !== 'object' || options === null) return [`${what} options must be an object`];
  return Object.keys(options)
    .filter((key) => !known.includes(key))
    .map((key) => `${what} has no option '${key}' (supported: ${known.join(', ')})`);
}
