#!/usr/bin/env node
/**
 * The `aion` executable: runs the program. Every error is one line on stderr and a non-zero
 * exit code (the stack too when `AION_DEBUG` is set, for reporting a bug).
 */
import { CommanderError } from 'commander';
import { CliError } from './client.js';
import { createProgram } from './program.js';

try {
  await createProgram().parseAsync(process.argv);
} catch (error) {
  if (error instanceof CommanderError) {
    // Commander already printed the usage problem (or the help/version text).
    process.exitCode = error.exitCode;
  } else {
    const message = error instanceof Error ? error.message : String(error);
    process.stderr.write(`aion: ${message.replaceAll('\n', '; ')}\n`);
    if (process.env.AION_DEBUG && error instanceof Error && error.stack) process.stderr.write(`${error.stack}\n`);
    process.exitCode = error instanceof CliError ? error.exitCode : 1;
  }
}
