/**
 * EpochHistory: which epoch wrote which part of one replica's partition log, as a list of
 * (epoch, first index) pairs (Kafka's leader-epoch checkpoint; RFC 0001 "epoch history"). The
 * leader answers "where does epoch E end in your log?" from it to find where a follower's log
 * diverges from its own (divergence.ts).
 *
 * The history describes the log from `startIndex` on. Entries below it are gone (a snapshot or a
 * prefix truncation) and only the epoch of the entry at `startIndex − 1` is kept, as `baseEpoch`
 * (Raft's "last included term"). A log that has always started at index 1 has startIndex 1 and
 * baseEpoch 0: index 0 is the empty prefix every log shares. The base epoch implicitly covers
 * every index from `startIndex − 1` up to the first pair; each pair covers the indexes from its
 * first index up to the next pair's first index − 1, or up to the log end for the last pair.
 *
 * Critical invariants:
 *  - Pairs have strictly increasing epochs and strictly increasing first indexes, every epoch
 *    is greater than baseEpoch, and every first index is ≥ startIndex. A log's epochs never
 *    decrease along its indexes, so these pairs describe it completely.
 *  - startIndex ≥ 1, and startIndex = 1 exactly when baseEpoch = 0.
 *  - A pair is added only for the first entry of a new, greater epoch; appending an entry of the
 *    current epoch changes nothing (append returns false), so the caller persists the history
 *    only when it changed.
 *  - Every index and epoch is a safe integer; encode() and decode() check all of the above,
 *    before writing and again after reading.
 *
 * Size: one pair per epoch that wrote entries still in the log. The log is bounded by retention
 * (and truncateBefore follows it), so the history is too.
 *
 * Convention: an "end" is the index of the LAST entry (inclusive), like the RFC's log end,
 * durable index and acknowledged index; 0 means "no entry".
 */
import { assert } from '@quire/common';

/** One (epoch, first index) pair: the epoch's first entry in this log is at firstIndex. */
export interface EpochStart {
  readonly epoch: number;
  readonly firstIndex: number;
}

/** Encoding format version, the first byte of an encoded history. */
const formatVersion = 1;
/** [u8 format][u64 startIndex][u64 baseEpoch][u32 pair count] */
const headerBytes = 1 + 8 + 8 + 4;
/** [u64 epoch][u64 firstIndex] */
const pairBytes = 16;

/** A replica's epoch history. Mutable; one instance per partition replica. */
export class EpochHistory {
  private pairList: EpochStart[];
  private start: number;
  private base: number;

  private constructor(startIndex: number, baseEpoch: number, pairs: readonly EpochStart[]) {
    this.start = startIndex;
    this.base = baseEpoch;
    this.pairList = pairs.map((p) => ({ epoch: p.epoch, firstIndex: p.firstIndex }));
    this.check();
  }

  /** Returns the history of an empty log that starts at index 1. */
  static empty(): EpochHistory {
    return new EpochHistory(1, 0, []);
  }

  /**
   * Returns the history of a log whose entries up to `lastIndex` are gone (a snapshot at
   * `lastIndex`, or an empty log continuing from an applied index), the entry at `lastIndex`
   * having been written in `epoch`.
   */
  static startingAfter(lastIndex: number, epoch: number): EpochHistory {
    return new EpochHistory(lastIndex + 1, epoch, []);
  }

  /** Returns a history from its parts (validated). */
  static of(startIndex: number, baseEpoch: number, pairs: readonly EpochStart[]): EpochHistory {
    return new EpochHistory(startIndex, baseEpoch, pairs);
  }

  /** Decodes a history written by encode(); asserts that it is well formed. */
  static decode(raw: Uint8Array): EpochHistory {
    const buf = Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength);
    assert(buf.length >= headerBytes, `Epoch history of ${buf.length} bytes is shorter than its header`);
    const format = buf.readUInt8(0);
    assert(format === formatVersion, `Unknown epoch history format ${format}`);
    const startIndex = readSafeU64(buf, 1);
    const baseEpoch = readSafeU64(buf, 9);
    const count = buf.readUInt32BE(17);
    assert(buf.length === headerBytes + count * pairBytes, `Epoch history of ${buf.length} bytes does not hold ${count} pairs`);
    const pairs: EpochStart[] = [];
    for (let i = 0; i < count; i++) {
      const offset = headerBytes + i * pairBytes;
      pairs.push({ epoch: readSafeU64(buf, offset), firstIndex: readSafeU64(buf, offset + 8) });
    }
    return new EpochHistory(startIndex, baseEpoch, pairs);
  }

  /** Encodes the history for storage (checked before it is written). */
  encode(): Buffer {
    this.check();
    const out = Buffer.allocUnsafe(headerBytes + this.pairList.length * pairBytes);
    out.writeUInt8(formatVersion, 0);
    out.writeBigUInt64BE(BigInt(this.start), 1);
    out.writeBigUInt64BE(BigInt(this.base), 9);
    out.writeUInt32BE(this.pairList.length, 17);
    this.pairList.forEach((p, i) => {
      out.writeBigUInt64BE(BigInt(p.epoch), headerBytes + i * pairBytes);
      out.writeBigUInt64BE(BigInt(p.firstIndex), headerBytes + i * pairBytes + 8);
    });
    return out;
  }

  /** The first index the history describes; entries below it are gone. */
  get startIndex(): number {
    return this.start;
  }

  /** The epoch of the entry at startIndex − 1 (0 when startIndex is 1). */
  get baseEpoch(): number {
    return this.base;
  }

  /** The pairs, oldest first (a copy). */
  get pairs(): readonly EpochStart[] {
    return this.pairList.map((p) => ({ ...p }));
  }

  /** The epoch of the log's last entry (baseEpoch when no entry remains above startIndex − 1). */
  get lastEpoch(): number {
    return this.pairList.at(-1)?.epoch ?? this.base;
  }

  /**
   * Records that the entry at `index` was written in `epoch`. Call it for every appended entry,
   * or at least for the first entry of each epoch. Returns whether a pair was added (the
   * history must then be persisted before or with that entry).
   */
  append(epoch: number, index: number): boolean {
    assert(Number.isSafeInteger(epoch) && epoch >= 1, `Entry epoch ${epoch} is not a positive integer`);
    assert(Number.isSafeInteger(index) && index >= this.start, `Entry index ${index} is below the log start ${this.start}`);
    const last = this.pairList.at(-1);
    const lastEpoch = last?.epoch ?? this.base;
    assert(epoch >= lastEpoch, `Entry at index ${index} has epoch ${epoch}, older than the log's last epoch ${lastEpoch}`);
    if (epoch === lastEpoch) {
      // A continuation of the current epoch: only check it lies inside or after that epoch.
      assert(last === undefined || index >= last.firstIndex, `Entry ${index} of epoch ${epoch} precedes that epoch's first entry ${last?.firstIndex}`);
      return false;
    }
    assert(last === undefined || index > last.firstIndex, `Epoch ${epoch} cannot start at ${index}: epoch ${last?.epoch} starts at ${last?.firstIndex}`);
    this.pairList.push({ epoch, firstIndex: index });
    return true;
  }

  /**
   * Returns the epoch of the entry at `index` in a log that ends at `logEndIndex`, or undefined
   * when the log does not hold it (above the end, or below startIndex − 1). Index 0 of a log
   * starting at 1 is the empty prefix, epoch 0.
   */
  epochAt(index: number, logEndIndex: number): number | undefined {
    this.checkLogEnd(logEndIndex);
    if (!Number.isSafeInteger(index) || index < this.start - 1 || index > logEndIndex) return undefined;
    let epoch = this.base;
    for (const p of this.pairList) {
      if (p.firstIndex > index) break;
      epoch = p.epoch;
    }
    return epoch;
  }

  /**
   * Returns the largest epoch of this log that is ≤ `epoch` (counting baseEpoch), or undefined
   * when `epoch` is older than baseEpoch. This is the epoch the answer of endOfEpoch belongs
   * to (Kafka's OffsetsForLeaderEpoch answers with it).
   */
  floorEpoch(epoch: number): number | undefined {
    assert(Number.isSafeInteger(epoch) && epoch >= 0, `Epoch ${epoch} is not a non-negative integer`);
    if (epoch < this.base) return undefined;
    let floor = this.base;
    for (const p of this.pairList) {
      if (p.epoch > epoch) break;
      floor = p.epoch;
    }
    return floor;
  }

  /**
   * Returns the end of `epoch` in a log that ends at `logEndIndex`: the index of the last entry
   * whose epoch is ≤ `epoch` (0 when there is none). So for the log's last epoch or any newer
   * one it is the log end; for an epoch this log never had, it is the end of the largest epoch
   * below it (Kafka's OffsetsForLeaderEpoch, with an inclusive end). Returns undefined when the
   * answer lies below the log start: `epoch` is older than baseEpoch.
   */
  endOfEpoch(epoch: number, logEndIndex: number): number | undefined {
    this.checkLogEnd(logEndIndex);
    assert(Number.isSafeInteger(epoch) && epoch >= 0, `Epoch ${epoch} is not a non-negative integer`);
    if (epoch < this.base) return undefined;
    const next = this.pairList.find((p) => p.epoch > epoch);
    return next === undefined ? logEndIndex : next.firstIndex - 1;
  }

  /**
   * Forgets the entries above `index` (the log was truncated to end at `index`): drops the
   * pairs that start above it.
   */
  truncateAfter(index: number): void {
    assert(Number.isSafeInteger(index) && index >= this.start - 1, `Cannot truncate after ${index}: the log starts at ${this.start}`);
    while ((this.pairList.at(-1)?.firstIndex ?? 0) > index) this.pairList.pop();
    this.check();
  }

  /**
   * Forgets the entries below `index` (log-prefix truncation: `index` becomes the log start).
   * The epoch of the entry at `index − 1` becomes the base epoch; the log must hold that entry.
   */
  truncateBefore(index: number): void {
    assert(Number.isSafeInteger(index) && index >= this.start, `Cannot truncate before ${index}: the log already starts at ${this.start}`);
    if (index === this.start) return;
    let base = this.base;
    const kept: EpochStart[] = [];
    for (const p of this.pairList) {
      if (p.firstIndex <= index - 1) base = p.epoch;
      else kept.push(p);
    }
    this.start = index;
    this.base = base;
    this.pairList = kept;
    this.check();
  }

  /** Returns a copy that evolves independently. */
  clone(): EpochHistory {
    return new EpochHistory(this.start, this.base, this.pairList);
  }

  private checkLogEnd(logEndIndex: number): void {
    assert(Number.isSafeInteger(logEndIndex) && logEndIndex >= this.start - 1, `Log end ${logEndIndex} is below the log start ${this.start}`);
    const last = this.pairList.at(-1);
    assert(last === undefined || logEndIndex >= last.firstIndex, `Log end ${logEndIndex} is below the first entry ${last?.firstIndex} of epoch ${last?.epoch}`);
  }

  private check(): void {
    assert(Number.isSafeInteger(this.start) && this.start >= 1, `Epoch history start ${this.start} is not a positive integer`);
    assert(Number.isSafeInteger(this.base) && this.base >= 0, `Epoch history base epoch ${this.base} is not a non-negative integer`);
    assert((this.start === 1) === (this.base === 0), `Epoch history starting at ${this.start} has base epoch ${this.base}`);
    let epoch = this.base;
    let firstIndex = this.start - 1;
    for (const p of this.pairList) {
      assert(Number.isSafeInteger(p.epoch) && p.epoch > epoch, `Epoch history pair epoch ${p.epoch} does not follow epoch ${epoch}`);
      assert(Number.isSafeInteger(p.firstIndex) && p.firstIndex > firstIndex && p.firstIndex >= this.start, `Epoch ${p.epoch} starts at ${p.firstIndex}, not after ${firstIndex}`);
      epoch = p.epoch;
      firstIndex = p.firstIndex;
    }
  }
}

function readSafeU64(buf: Buffer, offset: number): number {
  const value = buf.readBigUInt64BE(offset);
  assert(value <= BigInt(Number.MAX_SAFE_INTEGER), `Epoch history value ${value} is not a safe integer`);
  return Number(value);
}
