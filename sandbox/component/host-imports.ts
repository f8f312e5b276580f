/**
 * The host side of what a workflow component may import: the activation's recorded time for
 * `wasi:clocks/wall-clock`, a seeded stream for `wasi:random/*`, and `aion:workflow/host`'s
 * log. The stream's state is part of the sandbox's state (saved with its memories), so a run
 * restored from a snapshot draws the numbers it would have drawn.
 *
 * @module
 */

import type * as Host from './wit-types/interfaces/aion-workflow-host.js';

export type LogLevel = Host.LogLevel;

/** Log lines kept per unit of work, and characters per line (what the engine keeps of a result's log). */
const MAX_LOG_LINES = 1000;
const MAX_LOG_MESSAGE = 8 * 1024;
/** The most random bytes one call may ask for (more is a guest bug, not a need). */
const MAX_RANDOM_BYTES = 1024 * 1024;
const NANOS_PER_MS = 1_000_000;

export class HostImports {
  /** The time the guest sees (epoch ms), set at the start of each unit of work. */
  time = 0;
  /** sfc32's four words: the random stream's whole state. */
  readonly randomState = new Uint32Array(4);
  /** Log lines the guest wrote since they were last taken. */
  logs: { level: LogLevel; message: string }[] = [];

  constructor() {
    this.seed(0);
  }

  /** Restarts the random stream from a run's seed. */
  seed(seed: number): void {
    let x = seed >>> 0;
    // splitmix32 spreads a small seed over the four words.
    for (let i = 0; i < 4; i++) {
      x = (x + 0x9e3779b9) >>> 0;
      let z = x;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
      this.randomState[i] = (z ^ (z >>> 16)) >>> 0;
    }
    for (let i = 0; i < 12; i++) this.nextU32();
  }

  /** sfc32 (Chris Doty-Humphrey's small fast counting generator). */
  private nextU32(): number {
    const s = this.randomState;
    const t = (((s[0] + s[1]) >>> 0) + s[3]) >>> 0;
    s[3] = (s[3] + 1) >>> 0;
    s[0] = s[1] ^ (s[1] >>> 9);
    s[1] = (s[2] + (s[2] << 3)) >>> 0;
    s[2] = ((s[2] << 21) | (s[2] >>> 11)) >>> 0;
    s[2] = (s[2] + t) >>> 0;
    return t;
  }

  private nextU64(): bigint {
    return (BigInt(this.nextU32()) << 32n) | BigInt(this.nextU32());
  }

  private randomBytes(length: bigint): Uint8Array {
    if (length > BigInt(MAX_RANDOM_BYTES)) throw new RangeError(`the guest asked for ${length} random bytes (at most ${MAX_RANDOM_BYTES} per call)`);
    const bytes = new Uint8Array(Number(length));
    for (let i = 0; i < bytes.length; i += 4) {
      const word = this.nextU32();
      for (let j = 0; j < 4 && i + j < bytes.length; j++) bytes[i + j] = (word >>> (8 * j)) & 0xff;
    }
    return bytes;
  }

  /**
   * The imports object jco's instantiation mode takes (keyed by interface, without version).
   * Without prototypes: a function the component declares and the host does not implement
   * (`to-string`) finds nothing, not `Object.prototype`'s.
   */
  imports(): Record<string, Record<string, (...args: never[]) => unknown>> {
    const datetime = () => ({ seconds: BigInt(Math.floor(this.time / 1000)), nanoseconds: Math.floor((this.time % 1000) * NANOS_PER_MS) });
    // Bounded here: a guest logging in a loop must not fill the host's memory before its result is checked.
    const log: typeof Host.log = (level, message) => {
      if (this.logs.length < MAX_LOG_LINES) this.logs.push({ level, message: message.length > MAX_LOG_MESSAGE ? `${message.slice(0, MAX_LOG_MESSAGE)} …` : message });
    };
    const bare = <T extends object>(fields: T): T => Object.assign(Object.create(null) as T, fields);
    return bare({
      'aion:workflow/host': bare({ log }),
      'wasi:clocks/wall-clock': bare({ now: datetime, resolution: () => ({ seconds: 0n, nanoseconds: NANOS_PER_MS }) }),
      'wasi:random/random': bare({ getRandomBytes: (length: bigint) => this.randomBytes(length), getRandomU64: () => this.nextU64() }),
      'wasi:random/insecure': bare({ getInsecureRandomBytes: (length: bigint) => this.randomBytes(length), getInsecureRandomU64: () => this.nextU64() }),
      'wasi:random/insecure-seed': bare({ insecureSeed: () => [this.nextU64(), this.nextU64()] }),
    });
  }
}
