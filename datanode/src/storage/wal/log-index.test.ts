import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CorruptReplicaError } from '@quire/common';
import { describe, expect, it } from 'vitest';
import { WalLogIndex } from './log-index.js';
import type { WalPartition, WalRecord } from './records.js';
import { openWal, type WalLocation } from './wal.js';

const a: WalPartition = { keyspace: 'default', partitionId: 1 };
const b: WalPartition = { keyspace: 'default', partitionId: 2 };
const entry = Buffer.from('e');
const append = (p: WalPartition, index: number): WalRecord => ({ type: 'append', partition: p, index, entry });
let sequence = 0;
const at = (segment: number): WalLocation => ({ segment, offset: 0, bytes: 1, sequence: ++sequence });

describe('WalLogIndex', () => {
  it('indexes one gap-free run per partition and finds the batch of each entry', () => {
    const index = new WalLogIndex();
    const first = at(1);
    const second = at(2);
    index.apply(first, [append(a, 1), append(b, 7), append(a, 2)]);
    index.apply(second, [append(a, 3), append(b, 8)]);
    expect([index.firstIndex(a), index.lastIndex(a)]).toEqual([1, 3]);
    expect([index.firstIndex(b), index.lastIndex(b)]).toEqual([7, 8]);
    expect(index.place(a, 3)).toEqual({ batch: second });
    expect(index.place(a, 1)?.batch).toEqual(first);
    expect(index.place(a, 4)).toBeUndefined();
    // The place is a copy of the location alone: a replayed batch's records are not retained.
    const replayed = { ...at(3), records: [append(a, 4)] };
    index.apply(replayed, replayed.records);
    expect(index.place(a, 4)?.batch).not.toHaveProperty('records');
    expect(index.place(b, 6)).toBeUndefined();
    expect(index.firstIndex({ keyspace: 'default', partitionId: 3 })).toBeUndefined();
  });

  it('refuses an append that leaves a gap or repeats an index, as corruption', () => {
    const index = new WalLogIndex();
    index.apply(at(1), [append(a, 5), append(a, 6)]);
    expect(() => index.apply(at(1), [append(a, 8)])).toThrow(CorruptReplicaError);
    expect(() => index.apply(at(1), [append(a, 6)])).toThrow(/append of default\/1 at index 6, but its log continues at 7/);
  });

  it('truncates a suffix, continues after it, and refuses a truncation below the run', () => {
    const index = new WalLogIndex();
    index.apply(at(1), [append(a, 1), append(a, 2), append(a, 3)]);
    const replacing = at(2);
    index.apply(replacing, [{ type: 'truncate-after', partition: a, index: 1 }, append(a, 2)]);
    expect(index.lastIndex(a)).toBe(2);
    expect(index.place(a, 2)?.batch).toEqual(replacing);
    // Truncating everything leaves an empty run that must continue right after the truncation point.
    index.apply(at(2), [{ type: 'truncate-after', partition: a, index: 0 }]);
    expect([index.firstIndex(a), index.lastIndex(a)]).toEqual([1, 0]);
    expect(() => index.apply(at(2), [append(a, 3)])).toThrow(/continues at 1/);
    expect(() => index.apply(at(2), [{ type: 'truncate-after', partition: b, index: 0 }])).toThrow(/which has no log/);
  });

  it('a relocate record moves a run to the batch that copies it, skipping copies below the floor', () => {
    const index = new WalLogIndex();
    index.apply(at(1), [append(a, 1), append(a, 2), append(b, 1)]);
    index.apply(at(2), [append(a, 3), append(b, 2)]);
    expect(index.pinning(1)).toEqual([a, b]);
    const moved = at(5);
    index.apply(moved, [{ type: 'relocate', partition: a, index: 1 }, append(a, 1), append(a, 2), append(a, 3)]);
    expect([index.firstIndex(a), index.lastIndex(a)]).toEqual([1, 3]);
    for (const i of [1, 2, 3]) expect(index.place(a, i)?.batch).toEqual(moved);
    expect(index.pinning(4)).toEqual([b]);
    expect(index.segmentsNeededFrom(5)).toBe(1);
    // The floor rose while the copy was being written: copies below it are not part of the run.
    index.setFloor(b, 2);
    const again = at(6);
    index.apply(again, [{ type: 'relocate', partition: b, index: 1 }, append(b, 1), append(b, 2)]);
    expect([index.firstIndex(b), index.lastIndex(b)]).toEqual([2, 2]);
    expect(index.place(b, 2)?.batch).toEqual(again);
    expect(index.segmentsNeededFrom(6)).toBe(5);
    // Appends continue the moved run.
    index.apply(at(6), [append(a, 4)]);
    expect(index.lastIndex(a)).toBe(4);
  });

  it('restarts a partition after a reset at the snapshot index', () => {
    const index = new WalLogIndex();
    index.apply(at(1), [append(a, 1), append(a, 2)]);
    index.apply(at(3), [{ type: 'reset', partition: a, index: 500 }]);
    expect([index.firstIndex(a), index.lastIndex(a)]).toEqual([501, 500]);
    expect(() => index.apply(at(3), [append(a, 3)])).toThrow(CorruptReplicaError);
    index.apply(at(3), [append(a, 501)]);
    expect(index.lastIndex(a)).toBe(501);
    expect(index.segmentsNeededFrom(5)).toBe(3);
  });

  it('forgets a deleted replica: its entries, floor and pins hold no segment, and later records start it afresh', () => {
    const index = new WalLogIndex();
    index.startFloor(a, 3);
    index.apply(at(1), [append(a, 3), append(a, 4), { type: 'leader-tenure', partition: a, epoch: 2 }]);
    index.apply(at(2), [append(b, 1)]);
    expect(index.segmentsNeededFrom(5)).toBe(1);
    index.forget(a);
    expect([index.firstIndex(a), index.lastIndex(a), index.floor(a), index.place(a, 3)]).toEqual([undefined, undefined, 0, undefined]);
    expect(index.partitions()).toEqual([b]);
    expect(index.segmentsNeededFrom(5)).toBe(2);
    // A new replica of the partition, from index 1 (below the old floor: it is gone with the rest).
    index.apply(at(3), [append(a, 1), append(a, 2)]);
    expect([index.firstIndex(a), index.lastIndex(a)]).toEqual([1, 2]);
  });

  it('needs the oldest segment holding an entry at or above any floor, or an unchecked epoch record', () => {
    const index = new WalLogIndex();
    index.apply(at(1), [append(a, 1), append(b, 1)]);
    index.apply(at(2), [append(a, 2), { type: 'epoch-history', partition: b, bytes: Buffer.from([1]) }]);
    index.apply(at(3), [append(a, 3), append(b, 2)]);
    expect(index.segmentsNeededFrom(4)).toBe(1);
    index.setFloor(a, 3);
    expect(index.segmentsNeededFrom(4)).toBe(1); // b still needs its entry 1 in segment 1
    index.setFloor(b, 2);
    const pinned = index.segmentsNeededFrom(4);
    expect(pinned).toBe(2); // b's epoch history in segment 2 is not checkpointed yet
    index.checkpointed(b, 1); // an older checkpoint does not cover it
    expect(index.segmentsNeededFrom(4)).toBe(2);
    index.checkpointed(b, Number.MAX_SAFE_INTEGER);
    expect(index.segmentsNeededFrom(4)).toBe(3);
    index.setFloor(a, 4);
    index.setFloor(b, 3);
    expect(index.segmentsNeededFrom(4)).toBe(4);
    expect(() => index.setFloor(a, 2)).toThrow(/would go from 4 to 2/);
    expect(() => index.setFloor(a, 6)).toThrow(/beyond its log end/);
  });

  it('drives segment deletion on a real log: after floors rise and old segments go, replay rebuilds the same runs', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'quire-wal-index-'));
    try {
      const segmentBytes = 64 * 1024;
      const big = Buffer.alloc(900, 1);
      const built = new WalLogIndex();
      const { wal } = await openWal({ dir, segmentBytes }, (batch) => built.apply(batch, batch.records));
      for (let i = 1; i <= 300; i++) {
        const records: WalRecord[] = [{ type: 'append', partition: a, index: i, entry: big }];
        if (i % 3 === 0) records.push({ type: 'append', partition: b, index: i / 3, entry: big });
        built.apply(await wal.append(records), records);
      }
      expect(wal.segments().length).toBeGreaterThan(4);
      built.setFloor(a, 250);
      built.setFloor(b, 60);
      const keepFrom = built.segmentsNeededFrom(wal.currentSegment);
      expect(keepFrom).toBe(built.place(b, 60)?.batch.segment);
      expect(keepFrom).toBeGreaterThan(wal.segments()[0]?.segment ?? 0);
      await wal.deleteSegmentsBefore(keepFrom);
      await wal.close();

      const replayed = new WalLogIndex();
      const reopened = await openWal({ dir, segmentBytes }, (batch) => replayed.apply(batch, batch.records));
      await reopened.wal.close();
      // Every entry at or above a floor survived, with the place the live index had for it.
      expect(replayed.lastIndex(a)).toBe(300);
      expect(replayed.lastIndex(b)).toBe(100);
      expect(replayed.firstIndex(a)).toBeLessThanOrEqual(250);
      expect(replayed.firstIndex(b)).toBeLessThanOrEqual(60);
      for (const [p, from, to] of [[a, 250, 300], [b, 60, 100]] as const) {
        for (let i = from; i <= to; i++) expect(replayed.place(p, i)).toEqual(built.place(p, i));
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
