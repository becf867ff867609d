/**
 * Snapshot chunks: how a partition's data travels in Replication.Snapshot (RFC 0001 "Catch-up,
 * snapshots and log truncation"; replication.proto SnapshotChunk and SnapshotEnd). The leader
 * cuts its consistent read into chunks bounded by bytes and counts what it sent; the follower
 * checks every pair before it loads it and counts what it loaded, and the two counts must
 * agree at SnapshotEnd. Pure: no I/O.
 *
 * Critical invariants:
 *  - A chunk holds at most `bytesMax` of keys and values, except a single pair above the
 *    budget, which travels alone (so a chunk stays below grpcMessageBytesMax whatever the
 *    budget, given the value limit).
 *  - Cutting never reorders, drops or duplicates a pair.
 *  - SnapshotTally accepts only what the storage install accepts (a key of 1..65535 bytes in
 *    strictly ascending byte order across the whole snapshot, a version in 1..applied index),
 *    so a malformed snapshot from the wire is refused as data, never reaches a storage
 *    assertion.
 */
import { assert, compareBytes } from '@quire/common';
import type { StoredEntry } from '../storage/engine.js';

/** The longest key the storage layer stores (a u16 length in the stored value). */
const storedKeyBytesMax = 0xffff;

/** Key and value bytes of one pair, as SnapshotEnd.payload_bytes counts them. */
export function pairBytes(entry: StoredEntry): number {
  return entry.key.length + entry.value.length;
}

/**
 * Re-cuts chunks (as SnapshotReader.chunks gives them, whose last pair may overshoot their
 * budget) into chunks of at most `bytesMax` key and value bytes each; a pair above the budget
 * goes alone. Order is kept.
 */
export function* cutChunks(chunks: Iterable<readonly StoredEntry[]>, bytesMax: number): Generator<StoredEntry[]> {
  assert(Number.isSafeInteger(bytesMax) && bytesMax >= 1, `Snapshot chunk budget ${bytesMax} is not a positive integer`);
  let out: StoredEntry[] = [];
  let bytes = 0;
  for (const chunk of chunks) {
    for (const entry of chunk) {
      const size = pairBytes(entry);
      if (out.length > 0 && bytes + size > bytesMax) {
        yield out;
        out = [];
        bytes = 0;
      }
      out.push(entry);
      bytes += size;
    }
  }
  if (out.length > 0) yield out;
}

/** The totals of a snapshot (SnapshotEnd). */
export interface SnapshotTotals {
  readonly keyCount: number;
  readonly payloadBytes: number;
}

/** Counts a snapshot's pairs and checks them, on the sending or the loading side. */
export class SnapshotTally {
  private keys = 0;
  private bytes = 0;
  private lastKey: Buffer | undefined;

  /** `appliedIndex` is the snapshot's (SnapshotHeader.applied_index): every version is at most it. */
  constructor(private readonly appliedIndex: number) {
    assert(Number.isSafeInteger(appliedIndex) && appliedIndex >= 0, `Snapshot applied index ${appliedIndex} is not a non-negative integer`);
  }

  /** Pairs counted so far. */
  get keyCount(): number {
    return this.keys;
  }

  /** Key and value bytes counted so far. */
  get payloadBytes(): number {
    return this.bytes;
  }

  /** The totals so far, as SnapshotEnd carries them. */
  get totals(): SnapshotTotals {
    return { keyCount: this.keys, payloadBytes: this.bytes };
  }

  /**
   * Checks a chunk against everything counted before it and counts it. Returns why it is
   * malformed (and counts nothing), or undefined once counted.
   */
  add(entries: readonly StoredEntry[]): string | undefined {
    let previous = this.lastKey;
    let bytes = 0;
    for (const [i, e] of entries.entries()) {
      if (e.key.length < 1 || e.key.length > storedKeyBytesMax) return `pair ${this.keys + i} has a key of ${e.key.length} bytes`;
      if (!Number.isSafeInteger(e.version) || e.version < 1 || e.version > this.appliedIndex) {
        return `pair ${this.keys + i} has version ${e.version}, outside 1..${this.appliedIndex}`;
      }
      if (previous !== undefined && compareBytes(e.key, previous) <= 0) return `pair ${this.keys + i} is not above the previous key in byte order`;
      previous = e.key;
      bytes += pairBytes(e);
    }
    this.keys += entries.length;
    this.bytes += bytes;
    this.lastKey = previous;
    return undefined;
  }

  /** Whether the totals counted equal `end`'s. */
  matches(end: SnapshotTotals): boolean {
    return end.keyCount === this.keys && end.payloadBytes === this.bytes;
  }
}
