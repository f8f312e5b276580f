/**
 * The commit log: how the store knows, at open, that nothing it confirmed was lost.
 *
 * LevelDB replays its write-ahead log at open and, without paranoid checks (which
 * classic-level cannot turn on), skips what it cannot read: a flipped byte drops the rest of
 * a 32 KiB block, a torn record drops whatever follows it in its block, a truncated tail is
 * taken for a crash in the middle of a write. Each of these silently shortens histories. So:
 *
 * - every synced batch carries a **commit marker**: commit `n` writes `n` into slot
 *   `n mod RING` of a ring of keys. A batch the log lost leaves its slot holding an older
 *   commit, a gap that the check at open finds (the ring is far larger than the number of
 *   batches any LevelDB log holds);
 * - after each synced batch the number of the last confirmed commit is written to a small
 *   file beside the database (`AION-COMMITTED`), so a log that lost its tail — confirmed
 *   commits and their markers alike — is found too.
 *
 * A folder that fails the check is refused, naming what is missing and how to recover.
 *
 * @module
 */
import { closeSync, fdatasync, openSync, readFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { decodeValue, encodeValue } from './codec.js';
import { StoreError } from './errors.js';
import type { KvBatchOptions, KvDatabase, KvOperation } from './kv-database.js';
import { keys, prefixEnd } from './keys.js';

/** Slots of the marker ring. */
export const RING = 65_536;
export const COMMITTED_FILE = 'AION-COMMITTED';
/** The committed-commit file is written after every synced batch, and fsynced at most this often. */
const SYNC_INTERVAL_MS = 1000;

export interface CommitLogOptions {
  /** Folder of the committed-commit file; absent for stores without persistence. */
  folder?: string;
  /** Whether batches are synced (only then is anything confirmed durable). */
  sync: boolean;
  /** Open a folder whose log lost confirmed commits, keeping what survived (see docs/operations.md). */
  acceptDataLoss?: boolean;
  /** Told what was lost when `acceptDataLoss` let a damaged folder open. */
  onDataLossAccepted?: (damage: string) => void;
  /** Told of what weakens the check without refusing the folder (commits that were never confirmed, a committed-commit file that cannot be written). */
  onWarning?: (message: string) => void;
}

export class CommitLog {
  private fd: number | undefined;
  private lastSyncedAt = 0;
  private syncing = false;

  private constructor(
    /** Number of the last commit written (confirmed or not). */
    private last: number,
    private readonly options: CommitLogOptions,
  ) {
    if (options.folder !== undefined && options.sync) {
      this.fd = openSync(join(options.folder, COMMITTED_FILE), 'w');
      this.confirmed(last);
    }
  }

  /** Checks the database's markers (and the committed-commit file), then starts numbering after them. */
  static async open(db: KvDatabase, options: CommitLogOptions): Promise<CommitLog> {
    const slots = await readRing(db);
    const latest = Math.max(0, ...slots.values());
    const confirmed = options.folder === undefined ? undefined : readCommitted(options.folder);
    const damage = describeDamage(slots, latest, confirmed);
    if (damage !== undefined) {
      if (!options.acceptDataLoss) {
        throw new StoreError(
          'AION_STORE_DAMAGED',
          `the data folder ${options.folder ?? ''} is damaged: ${damage.message}. Restore it from a backup; or, to open it with what survived ` +
            `(the lost commits stay lost; runs that miss events may fail to replay), open it once with acceptDataLoss`,
        );
      }
      options.onDataLossAccepted?.(damage.message);
    }
    // Fill the gaps (what was lost, once accepted; and commits that were never confirmed), so
    // the next check measures from what exists now.
    const unconfirmed = unconfirmedGaps(slots, latest, confirmed);
    if (unconfirmed.length > 0) {
      options.onWarning?.(
        `commits ${describeRanges(unconfirmed)} are missing above the last one recorded as confirmed (${confirmed ?? 0}): they were never confirmed, ` +
          `or confirmed less than a second before a power loss (${COMMITTED_FILE} is synced once a second); the check goes on from commit ${latest}`,
      );
    }
    const gaps = [...(damage?.missing ?? []), ...unconfirmed];
    if (gaps.length > 0) await db.batch(gaps.map((n) => markerPut(n)), { sync: true } as KvBatchOptions);
    return new CommitLog(Math.max(latest, confirmed ?? 0), options);
  }

  /** Numbers the next synced batch: the marker operation to add to it (none without persistence). */
  next(): { commit: number; op?: KvOperation } {
    const commit = ++this.last;
    return { commit, op: this.options.folder === undefined ? undefined : markerPut(commit) };
  }

  /**
   * Commit `n` is durable: record it beside the database. Best effort: if the file cannot be
   * written, the tail check at the next open is only weaker (it never makes a commit fail).
   */
  confirmed(commit: number): void {
    if (this.fd === undefined) return;
    try {
      writeSync(this.fd, Buffer.from(`${String(commit).padStart(15, '0')}\n`), 0, 16, 0);
    } catch (error) {
      this.options.onWarning?.(`cannot write ${COMMITTED_FILE} (${(error as Error).message}): a log that loses its tail will not be noticed until the engine restarts`);
      this.close();
      return;
    }
    if (this.syncing || Date.now() - this.lastSyncedAt < SYNC_INTERVAL_MS) return;
    this.syncing = true;
    this.lastSyncedAt = Date.now();
    fdatasync(this.fd, () => (this.syncing = false));
  }

  close(): void {
    if (this.fd === undefined) return;
    const fd = this.fd;
    this.fd = undefined;
    try {
      closeSync(fd);
    } catch {
      // Nothing more to write to it either way.
    }
  }
}

const markerPut = (commit: number): KvOperation => ({ type: 'put', key: keys.commitMarker(commit % RING), value: encodeValue(commit) });

async function readRing(db: KvDatabase): Promise<Map<number, number>> {
  const prefix = keys.commitMarkerPrefix();
  const slots = new Map<number, number>();
  // `all`: one native call per thousand records and no promise per record (the ring holds up to 65,536 markers).
  for (const [key, bytes] of await db.iterator({ gte: prefix, lt: prefixEnd(prefix) }).all()) {
    const slot = Number(key.slice(prefix.length));
    let commit: unknown;
    try {
      commit = decodeValue<number>(bytes, () => `commit marker ${slot}`);
    } catch {
      continue; // a damaged marker counts as a missing commit
    }
    if (Number.isSafeInteger(commit) && (commit as number) % RING === slot) slots.set(slot, commit as number);
  }
  return slots;
}

/** Commits above the last confirmed one that the ring lacks: never acknowledged, so not a loss. */
function unconfirmedGaps(slots: Map<number, number>, latest: number, confirmed: number | undefined): number[] {
  const gaps: number[] = [];
  for (let commit = Math.max(1, (confirmed ?? latest) + 1, latest - RING + 1); commit <= latest; commit++) {
    if (slots.get(commit % RING) !== commit) gaps.push(commit);
  }
  return gaps;
}

function readCommitted(folder: string): number | undefined {
  let text: string;
  try {
    text = readFileSync(join(folder, COMMITTED_FILE), 'utf8');
  } catch {
    return undefined; // never written: a new folder, or one that was never synced
  }
  const commit = Number(text.trim());
  return Number.isSafeInteger(commit) && commit > 0 ? commit : undefined;
}

/** What the markers say is missing: commits the ring should hold and does not, and a lost tail. */
function describeDamage(slots: Map<number, number>, latest: number, confirmed: number | undefined): { message: string; missing: number[] } | undefined {
  const missing: number[] = [];
  // Commits above the last confirmed one were never acknowledged: a gap there is not a loss.
  const checkedUpTo = Math.min(latest, confirmed ?? latest);
  for (let commit = Math.max(1, latest - RING + 1); commit <= checkedUpTo; commit++) {
    if (slots.get(commit % RING) !== commit) missing.push(commit);
  }
  const lostTail = confirmed !== undefined && confirmed > latest;
  if (missing.length === 0 && !lostTail) return undefined;
  const parts: string[] = [];
  if (missing.length > 0) parts.push(`${missing.length} confirmed write(s) are missing from its log (commits ${describeRanges(missing)})`);
  if (lostTail) {
    parts.push(`its log ends at commit ${latest} but commit ${confirmed} was confirmed`);
    for (let commit = latest + 1; commit <= confirmed && missing.length < RING; commit++) missing.push(commit);
  }
  return { message: parts.join('; '), missing };
}

function describeRanges(commits: number[]): string {
  const ranges: string[] = [];
  for (let i = 0; i < commits.length; ) {
    let j = i;
    while (j + 1 < commits.length && commits[j + 1] === commits[j] + 1) j++;
    ranges.push(i === j ? String(commits[i]) : `${commits[i]}–${commits[j]}`);
    i = j + 1;
  }
  return ranges.length > 5 ? `${ranges.slice(0, 5).join(', ')}, …` : ranges.join(', ');
}
