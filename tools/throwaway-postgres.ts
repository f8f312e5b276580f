/**
 * A throw-away PostgreSQL server for the tests and the benchmarks: a fresh data folder made
 * with Debian's `initdb` in a temporary folder, served by `postgres` on a free loopback port,
 * removed again by `stop()`. Run as root (CI), the server runs as the unprivileged `postgres`
 * user that Debian's package creates, since PostgreSQL refuses to run as root.
 *
 * Not part of the engine: users bring their own PostgreSQL (docs/cluster.md).
 *
 * @module
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, processTreeCpuMs } from './processes.js';

export interface ThrowawayPostgres {
  /** `postgres://aion@127.0.0.1:PORT/postgres`: a superuser, trusted on loopback. */
  url: string;
  /** CPU time (user + system, ms) the server and its live backends have used so far (Linux: /proc). */
  cpuMs(): number;
  stop(): Promise<void>;
}

export interface ThrowawayPostgresOptions {
  /** fsync at commit, as a production server does (default true; tests may turn it off for speed). */
  fsync?: boolean;
}

/** The folder of Debian's PostgreSQL programs (the newest version installed), or undefined. */
export function postgresBinaries(): string | undefined {
  const fromEnv = process.env.AION_POSTGRES_BIN;
  if (fromEnv) return fromEnv;
  const root = '/usr/lib/postgresql';
  if (!existsSync(root)) return undefined;
  const versions = readdirSync(root).filter((name) => existsSync(join(root, name, 'bin', 'initdb'))).sort((a, b) => Number(b) - Number(a));
  return versions.length > 0 ? join(root, versions[0], 'bin') : undefined;
}

export async function startThrowawayPostgres(options: ThrowawayPostgresOptions = {}): Promise<ThrowawayPostgres> {
  const bin = postgresBinaries();
  if (bin === undefined) throw new Error('PostgreSQL is not installed: install Debian\'s postgresql package (apt-get install postgresql), or set AION_POSTGRES_BIN to the folder of initdb and postgres');
  const folder = mkdtempSync(join(tmpdir(), 'aion-postgres-'));
  const data = join(folder, 'data');
  const asUser = runAs(folder);
  execFileSync(asUser.command, [...asUser.args, join(bin, 'initdb'), '-D', data, '-U', 'aion', '--auth=trust', '-E', 'UTF8', '--no-locale', '--no-sync'], { stdio: 'pipe' });
  const port = await freePort();
  const settings = {
    listen_addresses: '127.0.0.1',
    port: String(port),
    unix_socket_directories: folder,
    max_connections: '300',
    fsync: options.fsync === false ? 'off' : 'on',
    synchronous_commit: options.fsync === false ? 'off' : 'on',
  };
  const server = spawn(asUser.command, [...asUser.args, join(bin, 'postgres'), '-D', data, ...Object.entries(settings).flatMap(([name, value]) => ['-c', `${name}=${value}`])], { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  server.stderr!.on('data', (chunk: Buffer) => (log = (log + chunk.toString()).slice(-4000)));
  await waitUntilReady(bin, port, server, () => log);
  return {
    url: `postgres://aion@127.0.0.1:${port}/postgres`,
    cpuMs: () => processTreeCpuMs(server.pid!),
    stop: async () => {
      await stopServer(server);
      rmSync(folder, { recursive: true, force: true });
    },
  };
}

/** How to run the server's programs: as ourselves, or (as root) as the `postgres` user, who then owns `folder`. */
function runAs(folder: string): { command: string; args: string[] } {
  if (process.getuid?.() !== 0) return { command: 'env', args: [] };
  const [uid, gid] = ['-u', '-g'].map((flag) => Number(execFileSync('id', [flag, 'postgres'], { encoding: 'utf8' }).trim()));
  chownSync(folder, uid, gid);
  // setpriv executes the program in its place: the child's pid is the server's own, for signals.
  return { command: 'setpriv', args: [`--reuid=${uid}`, `--regid=${gid}`, '--clear-groups'] };
}

async function waitUntilReady(bin: string, port: number, server: ChildProcess, log: () => string): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    if (server.exitCode !== null) throw new Error(`PostgreSQL exited while starting (code ${server.exitCode}): ${log()}`);
    try {
      execFileSync(join(bin, 'pg_isready'), ['-h', '127.0.0.1', '-p', String(port), '-q']);
      return;
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
  server.kill('SIGKILL');
  throw new Error(`PostgreSQL did not accept connections within 30 s: ${log()}`);
}

/** A fast shutdown (SIGINT: connections ended, no checkpoint wait beyond the server's own). */
async function stopServer(server: ChildProcess): Promise<void> {
  if (server.exitCode !== null) return;
  const exited = new Promise((resolve) => server.once('exit', resolve));
  server.kill('SIGINT');
  await exited;
}
