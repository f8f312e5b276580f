/**
 * A disk that fills up, for real: the engine runs in a 16 MiB tmpfs mounted in a private
 * mount namespace (`unshare -rm`, no privileges needed), a filler file takes the rest of the
 * space, and then the space comes back. While the disk is full callers get a 503 naming the
 * cause (no hang, no retry loop); once there is space the store reopens itself and accepts
 * writes; after a SIGKILL every run that was confirmed exists and finishes.
 */
import { spawn, spawnSync } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { suiteTempDir, tempDir } from '../helpers.js';

const CHILD = fileURLToPath(new URL('./disk-full-child.ts', import.meta.url));
const canMount = spawnSync('unshare', ['-rm', 'sh', '-c', 'mount -t tmpfs -o size=1m tmpfs "$0"', suiteTempDir('aion-mount-probe-')]).status === 0;

/** Runs both phases in one mount namespace (the tmpfs lives as long as the shell) and collects their reports. */
async function runInSmallDisk(): Promise<Record<string, unknown>> {
  const mountPoint = tempDir('aion-disk-full-');
  const node = `"${process.execPath}" --import tsx "${CHILD}"`;
  const script = [
    'mount -t tmpfs -o size=16m tmpfs "$0" || exit 1',
    `${node} fill "$0/data" "$0/filler"`,
    `${node} check "$0/data"`,
  ].join('\n');
  const child = spawn('unshare', ['-rm', 'sh', '-c', script, mountPoint], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const reports: Record<string, unknown> = {};
  createInterface({ input: child.stdout }).on('line', (line) => {
    const match = /^(confirmed|check) (.*)$/.exec(line);
    if (match) reports[match[1]] = JSON.parse(match[2]);
  });
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
  if (!reports.check) throw new Error(`the disk-full run did not finish (exit ${code}): ${stderr}`);
  return reports;
}

describe('a full disk', () => {
  it.skipIf(!canMount)(
    'refuses writes with a 503 naming the cause while the disk is full, recovers by itself, and loses nothing it confirmed',
    { timeout: 120_000 },
    async () => {
      const { confirmed, check } = (await runInSmallDisk()) as {
        confirmed: {
          before: number;
          sleeping: number;
          fitInLastPage: string[];
          whileFull: { status: number; code: string; message: string }[];
          health: { status: number; body: { status: string; reason: string } };
          linesWhileFull: number;
          after: { status: number; workflowId: string }[];
        };
        check: Record<string, unknown>;
      };
      expect([confirmed.before, confirmed.sleeping]).toEqual([201, 201]);
      expect(confirmed.whileFull).toHaveLength(4);
      for (const response of confirmed.whileFull) {
        expect(response).toMatchObject({ status: 503, code: 'AION_STORE_UNAVAILABLE' });
        expect(response.message).toMatch(/no space left on device/i);
      }
      expect(confirmed.health).toMatchObject({ status: 503, body: { status: 'unavailable' } });
      expect(confirmed.linesWhileFull).toBeLessThan(20);
      expect(confirmed.after).toEqual(Array.from({ length: 5 }, (_, i) => ({ status: 201, workflowId: `after-${i}` })));
      // After a SIGKILL and a restart: every confirmed run exists and finished (a refused start may or may not exist).
      expect(check).toMatchObject({
        before: 'hello a',
        sleeping: 'woke',
        ...Object.fromEntries(confirmed.fitInLastPage.map((id) => [id, 'hello b'])),
        ...Object.fromEntries(Array.from({ length: 5 }, (_, i) => [`after-${i}`, `hello c${i}`])),
      });
    },
  );
});
