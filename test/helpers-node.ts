/** Helpers usable outside vitest (child processes of tests, benchmarks). */
import { fileURLToPath } from 'node:url';
import type { Logger } from '../engine/logger.js';

export const fixture = (name: string): string => fileURLToPath(new URL(`./fixtures/${name}`, import.meta.url));

export const silentLogger: Logger = { debug() {}, info() {}, warn() {}, error() {} };
