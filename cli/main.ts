#!/usr/bin/env node
/** The `aion` executable: runs the program; errors become one line on stderr and exit code 1. */
import { CommanderError } from 'commander';
import { AionError, BundleError } from '../engine/index.js';
import { CliError } from './client.js';
import { createProgram } from './program.js';

try {
  await createProgram().parseAsync(process.argv);
} catch (error) {
  if (error instanceof CommanderError) {
    // Commander already printed the usage problem (or the help/version text).
    process.exitCode = error.exitCode;
  } else {
    const known = error instanceof CliError || error instanceof AionError || error instanceof BundleError;
    const message = known ? (error as Error).message.replaceAll('\n', '; ') : `unexpected error: ${(error as Error).stack ?? String(error)}`;
    process.stderr.write(`aion: ${message}\n`);
    process.exitCode = error instanceof CliError ? error.exitCode : 1;
  }
}
