/**
 * Cluster mode: several engines serving one schema, each a share of its partitions.
 *
 * Each engine has a row in `nodes` (its name, its API's address, its last beat). On each beat
 * (a third of the lease time) it renews its leases, counts the live engines (a recent beat and
 * a liveness lock held, leases.ts), and takes free partitions up to its share — the partition
 * count divided by the live engines, rounded up — in partition order. One above its share
 * gives its highest partitions up, once the engine stopped their work, so that an engine that
 * joins gets its share at its next beat. The control plane (schedules) goes to the first engine
 * that finds it free, and stays with it.
 *
 * Effects recorded for another engine's partition reach it by a `NOTIFY` on the schema's
 * channel (the store's writes), and by a sweep on each beat: a lost notification delays an
 * effect by a beat at most. Changed control records (deploys, namespaces) are announced on the
 * same channel, and the other engines read them again.
 *
 * @module
 */
import type pg from 'pg';
import type { AssignmentListener, ClusterNode, PartitionAssignment } from '../types.js';
import type { Database, Query } from './database.js';
import { ownerAlive, type PartitionLeases } from './leases.js';
import { CONTROL_PARTITION } from './schema.js';

export class ClusterMembership implements PartitionAssignment {
  private listener: AssignmentListener | undefined;
  /** Partitions whose work is being stopped before their leases are given up. */
  private readonly draining = new Set<number>();
  private timer: NodeJS.Timeout | undefined;
  private beating: Promise<void> | undefined;
  /** The session listening for the channel's notifications (made again on a beat once it broke). */
  private listening: pg.Client | undefined;
  private listenAttempt: Promise<void> | undefined;
  private stopped = false;

  constructor(
    private readonly db: Database,
    private readonly leases: PartitionLeases,
    readonly partitionCount: number,
    /** This engine's API address, for the others to forward calls to. */
    private readonly address: string,
    /** The `NOTIFY` channel of effects recorded for a partition (the payload). */
    readonly channel: string,
    /** Told of partitions taken or given up (the store forgets what it kept of their runs). */
    private readonly onMoved: (partitions: number[]) => void = () => undefined,
  ) {}

  get self(): string {
    return this.leases.owner;
  }

  serves(partition: number): boolean {
    return this.leases.holds(partition) && !this.draining.has(partition);
  }

  servesControl(): boolean {
    return this.serves(CONTROL_PARTITION);
  }

  /** The partitions served now (the control plane as -1), whose work the store's scans return. */
  served(): number[] {
    return [...this.leases.heldLeases().keys()].filter((partition) => !this.draining.has(partition));
  }

  /** Records this engine in `nodes` (it takes no partition before an engine attaches). */
  async join(): Promise<void> {
    await this.leases.holdLivenessLock();
    await this.db.query(UPSERT_NODE, [this.self, this.address]);
  }

  async attach(listener: AssignmentListener): Promise<void> {
    if (this.listener) throw new Error('an engine is attached to this store already');
    this.listener = listener;
    const first = this.beat();
    this.beating = first.then(() => undefined, () => undefined);
    const { recovered } = await first;
    this.beating = undefined;
    this.timer = setInterval(() => {
      if (this.beating || this.stopped) return;
      // The database out of reach: the next beat tries again; fenced writes stay safe meanwhile.
      this.beating = this.beat()
        .then(() => undefined, () => undefined)
        .finally(() => (this.beating = undefined));
    }, Math.max(100, Math.floor(this.leases.ttl / 3)));
    this.timer.unref();
    await recovered;
  }

  async ownerOf(partition: number): Promise<ClusterNode | undefined> {
    const [row] = await this.db.query<NodeRow>(
      `SELECT n.name, n.address, n.started_at, n.beat_at, ${live(2)} FROM leases l JOIN nodes n ON n.name = l.owner WHERE l.partition = $1 AND l.expires_at > now()`,
      [partition, this.leases.ttl],
    );
    return row && nodeOf(row);
  }

  async announceControlChange(): Promise<void> {
    await this.db.query('SELECT pg_notify($1, $2)', [this.channel, `${CONTROL_CHANGED}${this.self}`]);
  }

  /** The engines of the cluster, by name. */
  async nodes(): Promise<ClusterNode[]> {
    return (await this.db.query<NodeRow>(`SELECT name, address, started_at, beat_at, ${live(1)} FROM nodes ORDER BY name`, [this.leases.ttl])).map(nodeOf);
  }

  /** Stops beating and listening, and leaves `nodes` (the leases are released by the caller). */
  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    await this.beating;
    await this.listenAttempt;
    const listening = this.listening;
    this.listening = undefined;
    await listening?.end().catch(() => undefined);
    await this.db.query('DELETE FROM nodes WHERE name = $1', [this.self]).catch(() => undefined);
  }

  /**
   * One beat: renews, takes free partitions up to the share, starts giving the excess up, and
   * sweeps for effects. Resolves once the beat is written, with the recovery of the partitions
   * it took still running (`recovered`): the next beats, the renewals, do not wait for it.
   */
  private async beat(): Promise<{ recovered: Promise<void> }> {
    const listener = this.listener!;
    const { taken, control, excess } = await this.db.transaction(async (query) => {
      await query(UPSERT_NODE, [this.self, this.address]);
      const share = Math.ceil(this.partitionCount / (await this.liveEngines(query)));
      const mine = this.served().filter((partition) => partition !== CONTROL_PARTITION).sort((a, b) => a - b);
      const taken = await this.leases.takeFree(query, 'all', share - mine.length);
      const control = this.leases.holds(CONTROL_PARTITION) ? new Map<number, number>() : await this.leases.takeFree(query, 'control', 1);
      // Last: it locks this engine's lease rows, which its writes read (share lock) meanwhile, until the commit.
      await this.leases.renewHeld(query);
      return { taken, control, excess: mine.slice(share) };
    });
    // Held from now on: the transaction committed.
    this.leases.recordTaken(taken);
    this.leases.recordTaken(control);
    // The sessions of the lock and of the notifications, checked (and made again) after the renewal, not before it.
    void this.leases.checkLiveness().catch(() => undefined);
    this.listenAttempt ??= this.listen()
      .catch(() => undefined)
      .finally(() => (this.listenAttempt = undefined));
    if (this.stopped) return { recovered: Promise.resolve() };
    if (excess.length > 0) this.giveUp(listener, excess);
    listener.effectsPending();
    const gained = [...taken.keys()].sort((a, b) => a - b);
    if (gained.length === 0 && control.size === 0) return { recovered: Promise.resolve() };
    this.onMoved(gained);
    return { recovered: listener.gained(gained, control.size > 0) };
  }

  /** Live engines, this one included: a beat within the lease time and a liveness lock held. Rows of engines that died are deleted. */
  private async liveEngines(query: Query): Promise<number> {
    const others = await query<{ name: string; fresh: boolean }>(`SELECT name, beat_at > now() - $2 * interval '1 millisecond' AS fresh FROM nodes WHERE name <> $1`, [this.self, this.leases.ttl]);
    let live = 1;
    for (const { name, fresh } of others) {
      if (!(await ownerAlive(query, name))) await query('DELETE FROM nodes WHERE name = $1', [name]);
      else if (fresh) live++;
    }
    return live;
  }

  /**
   * Stops the partitions' work (for a lease time at most: the fence keeps what is still in
   * flight after that from writing), then gives their leases up. A partition being drained is
   * not served, nor counted in the share.
   */
  private giveUp(listener: AssignmentListener, partitions: number[]): void {
    for (const partition of partitions) this.draining.add(partition);
    let bound: NodeJS.Timeout | undefined;
    const drained = Promise.race([listener.releasing(partitions), new Promise<void>((resolve) => (bound = setTimeout(resolve, this.leases.ttl)))]);
    void drained
      .catch(() => undefined)
      .then(() => this.leases.giveUp(partitions))
      .then(() => this.onMoved(partitions))
      .catch(() => undefined)
      .finally(() => {
        clearTimeout(bound);
        for (const partition of partitions) this.draining.delete(partition);
      });
  }

  /**
   * Listens on the channel, on a session of its own: checked on each beat, and made again once
   * it broke. Each time it starts listening, control records are read again: what was announced
   * while no session listened is lost (effects are swept on each beat anyway).
   */
  private async listen(): Promise<void> {
    if (this.listening) {
      const session = this.listening;
      const alive = await session.query('SELECT 1').then(() => true, () => false);
      if (alive) return;
      if (this.listening === session) this.listening = undefined;
      await session.end().catch(() => undefined);
    }
    if (this.stopped) return;
    const session = await this.db.session('aion-notifications', () => {
      if (this.listening === session) this.listening = undefined;
      void session.end().catch(() => undefined);
    });
    session.on('notification', (message) => {
      if (message.payload?.startsWith(CONTROL_CHANGED)) {
        if (message.payload !== `${CONTROL_CHANGED}${this.self}`) this.listener?.controlChanged();
      } else if (this.serves(Number(message.payload))) {
        this.listener?.effectsPending();
      }
    });
    await session.query(`LISTEN "${this.channel}"`).catch(async (error: unknown) => {
      await session.end().catch(() => undefined);
      throw error;
    });
    if (this.stopped) return void (await session.end().catch(() => undefined));
    this.listening = session;
    this.listener?.controlChanged();
  }
}

/** Records (or re-records: the others delete the row of an engine whose lock they found free) this engine in `nodes`. */
const UPSERT_NODE = `INSERT INTO nodes (name, address, started_at, beat_at) VALUES ($1, $2, now(), now()) ON CONFLICT (name) DO UPDATE SET address = EXCLUDED.address, beat_at = now()`;

/** The payload announcing changed control records: this, then the announcing engine's name. */
const CONTROL_CHANGED = 'control:';

/** A `nodes` row's liveness (a beat within the lease time), the lease time being the statement's parameter `$<param>`. */
const live = (param: number): string => `beat_at > now() - $${param} * interval '1 millisecond' AS live`;

type NodeRow = { name: string; address: string; started_at: Date; beat_at: Date; live: boolean };

const nodeOf = (row: NodeRow): ClusterNode => ({ name: row.name, address: row.address, startedAt: row.started_at.getTime(), lastBeatAt: row.beat_at.getTime(), live: row.live });
