/** Helpers usable outside vitest (child processes of tests, benchmarks). */
import { fileURLToPath } from 'node:url';
import type { Logger } from '../engine/logger.js';

export const fixture = (name: string): string => fileURLToPath(new URL(`./fixtures/${name}`, import.meta.url));

export const silentLogger: Logger = { debug() {}, info() {}, warn() {}, error() {} };

/**
 * Where a child process of a test keeps its runs, as one command-line argument: a LevelDB data
 * folder, or a PostgreSQL address and schema (`postgres://…#schema`).
 */
export function storeOfArgument(argument: string): { dataDir: string } | { postgres: { url: string; schema: string } } {
  if (!argument.startsWith('postgres://')) return { dataDir: argument };
  const [url, schema] = argument.split('#');
  return { postgres: { url, schema } };
}
