/** Runs a TypeScript child script and lets a test await the lines it prints; runs CLI commands to their end. */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { promisify } from 'node:util';

export interface Child {
  process: ChildProcess;
  /** Resolves with the first line matching `pattern` (rejects if the child exits first). */
  line(pattern: RegExp): Promise<string>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  stderr(): string;
  /** Every line printed so far. */
  lines(): string[];
}

export function runChild(script: string, args: string[], options: { env?: NodeJS.ProcessEnv } = {}): Child {
  const child = spawn(process.execPath, ['--import', 'tsx', script, ...args], { stdio: ['ignore', 'pipe', 'pipe'], ...options });
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const waiters: { pattern: RegExp; resolve(line: string): void }[] = [];
  const printed: string[] = [];
  createInterface({ input: child.stdout! }).on('line', (line) => {
    printed.push(line);
    for (const waiter of waiters.splice(0)) {
      if (waiter.pattern.test(line)) waiter.resolve(line);
      else waiters.push(waiter);
    }
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  return {
    process: child,
    line: (pattern) =>
      new Promise<string>((resolve, reject) => {
        waiters.push({ pattern, resolve });
        void exited.then(({ code, signal }) => reject(new Error(`child exited (${code ?? signal}) before printing ${pattern}: ${stderr}`)));
      }),
    exited,
    stderr: () => stderr,
    lines: () => [...printed],
  };
}

export interface CliOutcome {
  code: number;
  stdout: string;
  stderr: string;
}

const exec = promisify(execFile);

/** A function running `aion` (its TypeScript entry `cli`) against the server `endpoint()` names, to its exit. */
export function cliRunner(cli: string, cwd: string, endpoint: () => string): (...args: string[]) => Promise<CliOutcome> {
  return async (...args) => {
    try {
      const { stdout, stderr } = await exec(process.execPath, ['--import', 'tsx', cli, '--endpoint', endpoint(), ...args], { cwd });
      return { code: 0, stdout, stderr };
    } catch (error) {
      const failed = error as CliOutcome;
      return { code: failed.code, stdout: failed.stdout, stderr: failed.stderr };
    }
  };
}
