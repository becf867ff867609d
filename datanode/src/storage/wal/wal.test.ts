import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CorruptReplicaError } from '@quire/common';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { WalRecord } from './records.js';
import { openWal, type ReplayedBatch, type WalLocation, type WriteAheadLog } from './wal.js';

const segmentBytes = 64 * 1024;
const p = { keyspace: 'default', partitionId: 3 };

/** Batch n: an append of index n (about 1 KiB) and, every tenth batch, the other record types. */
function batchOf(n: number): WalRecord[] {
  const records: WalRecord[] = [{ type: 'append', partition: p, index: n, entry: Buffer.alloc(1_000, n % 251) }];
  if (n % 10 === 0) {
    records.push(
      { type: 'epoch-history', partition: p, bytes: Buffer.from(`history ${n}`) },
      { type: 'leader-tenure', partition: { keyspace: 'other', partitionId: n }, epoch: n },
      { type: 'truncate-after', partition: p, index: n - 1 },
    );
  }
  return records;
}

let dir: string;
const open: WriteAheadLog[] = [];

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'quire-wal-'));
});

afterEach(async () => {
  for (const wal of open.splice(0)) await wal.close();
  rmSync(dir, { recursive: true, force: true });
});

async function reopen(): Promise<{ wal: WriteAheadLog; batches: ReplayedBatch[]; tornTail: unknown }> {
  const batches: ReplayedBatch[] = [];
  const { wal, summary } = await openWal({ dir, segmentBytes }, (b) => batches.push(b));
  open.push(wal);
  expect(summary.batches).toBe(batches.length);
  return { wal, batches, tornTail: summary.tornTail };
}

async function closeAll(): Promise<void> {
  for (const wal of open.splice(0)) await wal.close();
}

async function appendBatches(wal: WriteAheadLog, from: number, to: number): Promise<WalLocation[]> {
  // All in flight at once: appends are written in call order whatever the timing.
  return Promise.all(Array.from({ length: to - from + 1 }, (_, i) => wal.append(batchOf(from + i))));
}

const segmentFiles = (): string[] => readdirSync(dir).filter((n) => n.endsWith('.seg')).sort();

describe('WriteAheadLog', () => {
  it('replays every appended batch, in order and whole, across segments after a reopen', async () => {
    const { wal } = await reopen();
    const locations = await appendBatches(wal, 1, 200);
    expect(locations.map((l) => l.sequence)).toEqual(Array.from({ length: 200 }, (_, i) => i + 1));
    expect(new Set(locations.map((l) => l.segment)).size).toBeGreaterThan(2);
    await closeAll();

    const { batches, tornTail } = await reopen();
    expect(tornTail).toBeUndefined();
    expect(batches.map((b) => b.sequence)).toEqual(locations.map((l) => l.sequence));
    expect(batches.map((b) => b.records)).toEqual(Array.from({ length: 200 }, (_, i) => batchOf(i + 1)));
    expect(batches.map(({ segment, offset, bytes, sequence }) => ({ segment, offset, bytes, sequence }))).toEqual(locations);
  });

  it('continues the sequence and the segment after a reopen, and reads a batch back by its location', async () => {
    const first = await reopen();
    await appendBatches(first.wal, 1, 30);
    await closeAll();
    const second = await reopen();
    const [location] = await appendBatches(second.wal, 31, 31);
    expect(location?.sequence).toBe(31);
    expect(second.wal.readSync(location as WalLocation)).toEqual(batchOf(31));
    await closeAll();
    const third = await reopen();
    expect(third.batches.map((b) => b.sequence)).toEqual(Array.from({ length: 31 }, (_, i) => i + 1));
  });

  it('keeps every segment file at its preallocated size and leaves no partial segment behind', async () => {
    const { wal } = await reopen();
    await appendBatches(wal, 1, 150);
    await closeAll();
    expect(readdirSync(dir).filter((n) => n.endsWith('.tmp'))).toEqual([]);
    for (const name of segmentFiles()) expect(statSync(join(dir, name)).size).toBe(segmentBytes);
  });

  for (const keep of [0, 1, 3, 19, 20, 21, 500]) {
    it(`cuts a last batch torn after ${keep} of its bytes, zeroes it, and appends after the batch before it`, async () => {
      const { wal } = await reopen();
      const locations = await appendBatches(wal, 1, 10);
      await closeAll();
      const last = locations[9] as WalLocation;
      const path = join(dir, segmentFiles().find((n) => Number.parseInt(n, 16) === last.segment) as string);
      const bytes = readFileSync(path);
      bytes.fill(0, last.offset + keep, last.offset + last.bytes);
      writeFileSync(path, bytes);

      const torn = await reopen();
      expect(torn.batches.map((b) => b.sequence)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9]);
      // Nothing written at all reads as the clean end of the log; anything else as a torn tail.
      if (keep === 0) expect(torn.tornTail).toBeUndefined();
      else expect(torn.tornTail).toMatchObject({ segment: last.segment, offset: last.offset });
      expect(readFileSync(path).subarray(last.offset).every((b) => b === 0)).toBe(true);
      const [again] = await appendBatches(torn.wal, 10, 10);
      expect(again).toMatchObject({ sequence: 10, segment: last.segment, offset: last.offset });
      await closeAll();

      const after = await reopen();
      expect(after.batches.map((b) => b.records)).toEqual(Array.from({ length: 10 }, (_, i) => batchOf(i + 1)));
      expect(after.tornTail).toBeUndefined();
    });
  }

  it('refuses to open a log with a damaged batch that later batches follow', async () => {
    const { wal } = await reopen();
    const locations = await appendBatches(wal, 1, 10);
    await closeAll();
    const fifth = locations[4] as WalLocation;
    const path = join(dir, segmentFiles()[0] as string);
    const bytes = readFileSync(path);
    bytes[fifth.offset + 40] = (bytes[fifth.offset + 40] ?? 0) ^ 0x01;
    writeFileSync(path, bytes);
    await expect(reopen()).rejects.toThrow(CorruptReplicaError);
    await expect(reopen()).rejects.toThrow(/damaged \(CRC mismatch\) but batch 6 follows/);
  });

  it('refuses to open a log whose middle segment is missing', async () => {
    const { wal } = await reopen();
    await appendBatches(wal, 1, 200);
    await closeAll();
    const files = segmentFiles();
    expect(files.length).toBeGreaterThan(3);
    unlinkSync(join(dir, files[1] as string));
    await expect(reopen()).rejects.toThrow(/WAL in .*: batch \d+ in .* after the log's end/);
  });

  it('refuses non-zero bytes after the last batch of a segment', async () => {
    const { wal } = await reopen();
    const locations = await appendBatches(wal, 1, 3);
    await closeAll();
    const path = join(dir, segmentFiles()[0] as string);
    const bytes = readFileSync(path);
    const end = (locations[2] as WalLocation).offset + (locations[2] as WalLocation).bytes;
    bytes[end + 5000] = 7;
    writeFileSync(path, bytes);
    await expect(reopen()).rejects.toThrow(/non-zero bytes after the last batch/);
  });

  it('refuses a batch larger than a segment without writing it, and stays usable', async () => {
    const { wal } = await reopen();
    await appendBatches(wal, 1, 2);
    await expect(wal.append([{ type: 'append', partition: p, index: 3, entry: Buffer.alloc(segmentBytes) }])).rejects.toThrow(
      /exceeds the segment size 65536/,
    );
    const [next] = await appendBatches(wal, 3, 3);
    expect(next?.sequence).toBe(3);
    await closeAll();
    expect((await reopen()).batches.map((b) => b.sequence)).toEqual([1, 2, 3]);
  });

  it('deletes whole segments below a given one; replay then starts at the oldest kept batch', async () => {
    const { wal } = await reopen();
    await appendBatches(wal, 1, 200);
    const segments = wal.segments();
    expect(segments.length).toBeGreaterThan(2);
    const keepFrom = segments[2] as (typeof segments)[number];
    expect(await wal.deleteSegmentsBefore(keepFrom.segment)).toBe(2);
    expect(wal.segments()[0]).toEqual(keepFrom);
    await closeAll();
    const after = await reopen();
    expect(after.batches[0]?.sequence).toBe(keepFrom.firstSequence);
    expect(after.batches.at(-1)?.sequence).toBe(200);
    expect(after.batches.map((b) => b.records)).toEqual(Array.from({ length: 200 - keepFrom.firstSequence + 1 }, (_, i) => batchOf(keepFrom.firstSequence + i)));
  });

  it('removes a segment preparation that a crash cut short, and an unused spare beyond the log', async () => {
    const { wal } = await reopen();
    await appendBatches(wal, 1, 5);
    await closeAll();
    writeFileSync(join(dir, '00000000000000ff.seg.tmp'), Buffer.alloc(100, 1));
    writeFileSync(join(dir, '0000000000000009.seg'), Buffer.alloc(segmentBytes));
    const after = await reopen();
    expect(after.batches).toHaveLength(5);
    expect(readdirSync(dir).some((n) => n.startsWith('00000000000000ff'))).toBe(false);
    expect(readdirSync(dir)).not.toContain('0000000000000009.seg');
  });
});
