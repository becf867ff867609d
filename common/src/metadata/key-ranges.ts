/**
 * Key ranges of RANGE keyspaces (PartitionScheme RANGE): each partition owns [startKey, endKey),
 * an empty startKey meaning the start of the keyspace and an empty endKey its end. Pure
 * functions over partition records, shared by routers (which partition holds a key, which
 * partitions a scan touches), data nodes (whether a key is still theirs) and the coordinator
 * (where a split may go).
 */
import { PartitionScheme, type PartitionRecord } from '@quire/proto';
import type { KeyspaceEntry } from './metadata-view.js';

/** Whether `key` lies in [start, end) (empty end: unbounded above). */
export function keyInRange(key: Uint8Array, start: Uint8Array, end: Uint8Array): boolean {
  if (Buffer.compare(key, start) < 0) return false;
  return end.length === 0 || Buffer.compare(key, end) < 0;
}

/** Whether a partition record owns `key`: always for a hash keyspace's (its range is empty-empty). */
export function recordOwnsKey(record: Pick<PartitionRecord, 'startKey' | 'endKey'>, key: Uint8Array): boolean {
  return keyInRange(key, record.startKey, record.endKey);
}

/** Intersects a [start, end) range with [start2, end2) (empty ends unbounded); undefined when empty. */
export function intersectRange(range: { readonly start: Buffer; readonly end: Buffer }, start: Uint8Array, end: Uint8Array): { start: Buffer; end: Buffer } | undefined {
  const lo = Buffer.compare(start, range.start) > 0 ? Buffer.from(start) : range.start;
  const hi = end.length === 0 ? range.end : range.end.length === 0 || Buffer.compare(end, range.end) < 0 ? Buffer.from(end) : range.end;
  if (hi.length > 0 && Buffer.compare(lo, hi) >= 0) return undefined;
  return { start: lo, end: hi };
}

/** Whether a keyspace entry is of the RANGE scheme. */
export function isRangeKeyspace(ks: KeyspaceEntry): boolean {
  return ks.record.scheme === PartitionScheme.PARTITION_SCHEME_RANGE;
}

/** The [start, end) ranges the initial split keys of a RANGE keyspace give its partitions 0..n. */
export function initialRanges(splitKeys: readonly Uint8Array[]): { start: Buffer; end: Buffer }[] {
  const bounds = [Buffer.alloc(0), ...splitKeys.map((k) => Buffer.from(k)), Buffer.alloc(0)];
  return bounds.slice(0, -1).map((start, i) => ({ start, end: bounds[i + 1] ?? Buffer.alloc(0) }));
}

/** Returns why a list of split keys is not strictly ascending and non-empty, or undefined. */
export function splitKeysProblem(splitKeys: readonly Uint8Array[]): string | undefined {
  for (let i = 0; i < splitKeys.length; i++) {
    const key = splitKeys[i] ?? Buffer.alloc(0);
    if (key.length === 0) return `split key ${i} is empty`;
    const previous = splitKeys[i - 1];
    if (previous !== undefined && Buffer.compare(previous, key) >= 0) {
      return Buffer.compare(previous, key) === 0 ? `split key ${i} repeats split key ${i - 1}` : `split key ${i} sorts before split key ${i - 1} (split keys must be strictly ascending)`;
    }
  }
  return undefined;
}

/**
 * A RANGE keyspace's partitions sorted by start key. Built from the assigned partition records
 * of one KeyspaceEntry; partitions not yet placed are left out (their keys route nowhere until
 * they are).
 */
export class RangeIndex {
  private readonly starts: Buffer[];
  private readonly ids: number[];
  private readonly ends: Buffer[];

  constructor(ks: KeyspaceEntry) {
    const placed = ks.partitions.filter((p) => p !== undefined).map((p) => p.record);
    placed.sort((a, b) => Buffer.compare(a.startKey, b.startKey));
    this.starts = placed.map((r) => Buffer.from(r.startKey));
    this.ends = placed.map((r) => Buffer.from(r.endKey));
    this.ids = placed.map((r) => r.partitionId);
  }

  /** The id of the partition whose range holds `key`, or undefined when no placed partition does. */
  partitionOf(key: Uint8Array): number | undefined {
    // The last partition whose start ≤ key.
    let lo = 0;
    let hi = this.starts.length - 1;
    let found = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (Buffer.compare(this.starts[mid] ?? Buffer.alloc(0), key) <= 0) {
        found = mid;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    if (found < 0) return undefined;
    const end = this.ends[found] ?? Buffer.alloc(0);
    return end.length === 0 || Buffer.compare(key, end) < 0 ? this.ids[found] : undefined;
  }

  /**
   * The partitions a scan of [start, end) touches, in key order, each with the part of the scan
   * it holds (empty end: unbounded).
   */
  overlapping(start: Uint8Array, end: Uint8Array): { partitionId: number; start: Buffer; end: Buffer }[] {
    const out: { partitionId: number; start: Buffer; end: Buffer }[] = [];
    for (let i = 0; i < this.starts.length; i++) {
      const pStart = this.starts[i] ?? Buffer.alloc(0);
      const pEnd = this.ends[i] ?? Buffer.alloc(0);
      const afterScan = end.length > 0 && Buffer.compare(pStart, end) >= 0;
      const beforeScan = pEnd.length > 0 && Buffer.compare(pEnd, start) <= 0;
      if (afterScan || beforeScan) continue;
      const lower = Buffer.compare(pStart, start) > 0 ? pStart : Buffer.from(start);
      const upper = pEnd.length === 0 ? Buffer.from(end) : end.length === 0 || Buffer.compare(pEnd, end) < 0 ? pEnd : Buffer.from(end);
      out.push({ partitionId: this.ids[i] ?? 0, start: lower, end: upper });
    }
    return out;
  }
}
