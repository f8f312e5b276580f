/**
 * The data folder's own lock, held beside LevelDB's.
 *
 * LevelDB's `LOCK` is a POSIX record lock, and POSIX drops every such lock a process holds
 * on a file as soon as the process closes *any* descriptor of that file. LevelDB's failing
 * second open in the same process does exactly that, which silently unlocks the folder for
 * other processes. So the engine holds the folder with a lock of its own that no failed open
 * can release:
 *
 * - in this process, a registry of held folders (by real path) refuses a second open before
 *   LevelDB is touched;
 * - across processes, a lock file created exclusively (`O_EXCL`) names its holder: process id,
 *   the process's start time (so a reused pid is not mistaken for the holder) and host. A lock
 *   file whose holder no longer runs (a `kill -9`) is stale and taken over.
 *
 * @module
 */
import { closeSync, openSync, readFileSync, realpathSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { StoreError } from './errors.js';

export const LOCK_FILE = 'AION-LOCK';

interface Holder {
  pid: number;
  /** Start time of the process, as the kernel reports it (Linux); absent elsewhere. */
  started?: string;
  host: string;
  since: string;
}

const heldInThisProcess = new Set<string>();

export interface FolderLock {
  readonly folder: string;
  release(): void;
}

/** Locks `folder` (which must exist) for this process, or throws `AION_STORE_LOCKED`. */
export function lockFolder(folder: string): FolderLock {
  const real = realpathSync(folder);
  if (heldInThisProcess.has(real)) {
    throw new StoreError('AION_STORE_LOCKED', `the data folder ${folder} is already open in this process (one engine per folder)`);
  }
  const path = join(real, LOCK_FILE);
  const self: Holder = { pid: process.pid, started: processStartTime(process.pid), host: hostname(), since: new Date().toISOString() };
  createLockFile(path, self, folder);
  heldInThisProcess.add(real);
  let released = false;
  return {
    folder: real,
    release() {
      if (released) return;
      released = true;
      heldInThisProcess.delete(real);
      // Only our own lock file is removed (never one a successor wrote after taking over).
      if (sameHolder(readHolder(path), self)) unlinkSync(path);
    },
  };
}

/**
 * Removes `folder`'s lock file if this process holds it: a worker thread of this process
 * locked it and ended without releasing it (the thread's registry of held folders ended with
 * it; what the thread opened was closed as it ended).
 */
export function releaseLockOfThisProcess(folder: string): void {
  const path = join(realpathSync(folder), LOCK_FILE);
  const holder = readHolder(path);
  if (holder === undefined || holder.pid !== process.pid || holder.host !== hostname() || holder.started !== processStartTime(process.pid)) return;
  try {
    unlinkSync(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
}

function createLockFile(path: string, self: Holder, folder: string): void {
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const fd = openSync(path, 'wx', 0o644);
      try {
        writeSync(fd, `${JSON.stringify(self)}\n`);
      } finally {
        closeSync(fd);
      }
      return;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') {
        throw new StoreError('AION_STORE_IO', `cannot lock the data folder ${folder}: ${(error as Error).message}`, { cause: error });
      }
    }
    const holder = readHolder(path);
    if (holder && isAlive(holder)) {
      throw new StoreError(
        'AION_STORE_LOCKED',
        `the data folder ${folder} is held by process ${holder.pid} on ${holder.host} (since ${holder.since}); stop that engine first`,
      );
    }
    // The holder is gone (killed, or the machine restarted): the lock is stale.
    try {
      unlinkSync(path);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
  }
  throw new StoreError('AION_STORE_LOCKED', `the data folder ${folder} is being locked by another process`);
}

function readHolder(path: string): Holder | undefined {
  try {
    const holder = JSON.parse(readFileSync(path, 'utf8')) as Partial<Holder>;
    return typeof holder.pid === 'number' && typeof holder.host === 'string' ? (holder as Holder) : undefined;
  } catch {
    return undefined; // missing, or torn by a crash while it was written: not a live holder
  }
}

function sameHolder(a: Holder | undefined, b: Holder): boolean {
  return a !== undefined && a.pid === b.pid && a.host === b.host && a.started === b.started && a.since === b.since;
}

function isAlive(holder: Holder): boolean {
  // A lock file from another host (a shared folder) cannot be checked: it is respected.
  if (holder.host !== hostname()) return true;
  try {
    process.kill(holder.pid, 0);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  // The pid runs; unless it is another process that reuses the number, it is the holder.
  const started = processStartTime(holder.pid);
  return holder.started === undefined || started === undefined || started === holder.started;
}

/** The kernel's start time of a process (field 22 of /proc/PID/stat), where there is a /proc. */
function processStartTime(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may contain spaces and parentheses: count from its end.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

/** Throws a clear error when `folder` exists and is not a directory. */
export function assertFolder(folder: string): void {
  let isDirectory: boolean;
  try {
    isDirectory = statSync(folder).isDirectory();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw new StoreError('AION_STORE_IO', `cannot use the data folder ${folder}: ${(error as Error).message}`, { cause: error });
  }
  if (!isDirectory) throw new StoreError('AION_STORE_IO', `the data folder ${folder} is a file, not a folder`);
}
