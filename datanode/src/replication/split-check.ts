/**
 * Split checks of RANGE partitions (RFC 0003 "Splits"), pure: no I/O, no timers. The leader
 * of a partition feeds each check its data size and the writes it appended since the last
 * check; the check says whether to ask the coordinator for a split, and why. A partition is
 * split by size once its data passes `sizeBytes`, by load once every check of the last
 * `loadWindowMs` saw more than `loadOpsPerSecond` writes per second (sustained, not a burst).
 * splitKeyOf picks the key that halves the partition's bytes.
 */

/** The thresholds (0 turns one off). */
export interface SplitThresholds {
  readonly sizeBytes: number;
  readonly loadOpsPerSecond: number;
  readonly loadWindowMs: number;
}

/** Why a partition is to be split. */
export type SplitReason = 'size' | 'load';

/** One check's observation of one partition. */
export interface SplitObservation {
  readonly nowMs: number;
  readonly dataBytes: number;
  /** Writes appended since the previous check. */
  readonly writes: number;
}

/** The load history and verdicts of one partition led here. */
export class SplitCheck {
  /** (time, ops per second) of each check within the load window, oldest first. */
  private samples: { atMs: number; rate: number }[] = [];
  private lastMs: number | undefined;
  /** When the load first went above the threshold without dropping back under it since. */
  private hotSinceMs: number | undefined;

  constructor(private readonly thresholds: SplitThresholds) {}

  /** Records one check and returns the reason to split, if any. */
  observe(o: SplitObservation): SplitReason | undefined {
    const previous = this.lastMs;
    this.lastMs = o.nowMs;
    if (previous !== undefined && o.nowMs > previous) {
      const rate = (o.writes * 1000) / (o.nowMs - previous);
      this.samples.push({ atMs: o.nowMs, rate });
      const hot = this.thresholds.loadOpsPerSecond > 0 && rate > this.thresholds.loadOpsPerSecond;
      if (!hot) this.hotSinceMs = undefined;
      else if (this.hotSinceMs === undefined) this.hotSinceMs = previous;
      this.samples = this.samples.filter((s) => s.atMs > o.nowMs - this.thresholds.loadWindowMs);
    }
    if (this.thresholds.sizeBytes > 0 && o.dataBytes > this.thresholds.sizeBytes) return 'size';
    if (this.hotSinceMs !== undefined && o.nowMs - this.hotSinceMs >= this.thresholds.loadWindowMs) return 'load';
    return undefined;
  }

  /** The mean write rate over the load window (for logs and tests). */
  get recentOpsPerSecond(): number {
    if (this.samples.length === 0) return 0;
    return this.samples.reduce((sum, s) => sum + s.rate, 0) / this.samples.length;
  }

  /** Forgets the load history (the partition was split, or the leadership changed). */
  reset(): void {
    this.samples = [];
    this.lastMs = undefined;
    this.hotSinceMs = undefined;
  }
}

/** A key and the bytes of its entry (key and value). */
export interface SizedKey {
  readonly key: Buffer;
  readonly bytes: number;
}

/**
 * The key that halves a partition's bytes: the first key at which the bytes before it reach
 * half of `totalBytes`, so the split gives each side about half (the last key when one entry
 * at the end holds more than half). Never the partition's first key (the split key must be inside the partition, above its start): with fewer than two keys
 * there is none, and undefined is returned. `keys` come in ascending order.
 */
export function splitKeyOf(keys: Iterable<SizedKey>, totalBytes: number): Buffer | undefined {
  let before = 0;
  let first = true;
  let last: Buffer | undefined;
  for (const { key, bytes } of keys) {
    if (!first) {
      if (before * 2 >= totalBytes) return key;
      last = key;
    }
    first = false;
    before += bytes;
  }
  // The bytes sit in the last entry: split just before it.
  return last;
}
