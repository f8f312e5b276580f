import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { tsImport } from 'tsx/esm/api';
import type { ActivityFunction } from '../engine/index.js';
import { CliError } from './client.js';

/**
 * Loads the operator's activities: the module's exported functions (or the functions of its
 * default export) by name. TypeScript modules are loaded through tsx.
 */
export async function loadActivities(modulePath: string): Promise<Record<string, ActivityFunction>> {
  const path = resolve(modulePath);
  if (!existsSync(path)) throw new CliError(`activities module not found: ${modulePath}`);
  let loaded: Record<string, unknown>;
  try {
    loaded = /\.[cm]?tsx?$/.test(path) ? await tsImport(pathToFileURL(path).href, import.meta.url) : await import(pathToFileURL(path).href);
  } catch (error) {
    throw new CliError(`cannot load activities module ${modulePath}: ${(error as Error).message}`);
  }
  const source = { ...(typeof loaded.default === 'object' && loaded.default !== null ? (loaded.default as Record<string, unknown>) : {}), ...loaded };
  const activities: Record<string, ActivityFunction> = {};
  for (const [name, value] of Object.entries(source)) if (typeof value === 'function') activities[name] = value as ActivityFunction;
  if (Object.keys(activities).length === 0) throw new CliError(`activities module ${modulePath} exports no function`);
  return activities;
}
