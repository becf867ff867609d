import { describe, expect, it } from 'vitest';
import { batchAt, batchHeaderBytes, decodeRecords, encodeBatch, type WalRecord } from './records.js';

const p = { keyspace: 'default', partitionId: 7 };

const everyType: WalRecord[] = [
  { type: 'append', partition: p, index: 1, entry: Buffer.from('entry one') },
  { type: 'append', partition: { keyspace: 'kéyspace-ü', partitionId: 0xffff_ffff }, index: Number.MAX_SAFE_INTEGER, entry: Buffer.alloc(0) },
  { type: 'truncate-after', partition: p, index: 0 },
  { type: 'epoch-history', partition: p, bytes: Buffer.from([1, 2, 3, 4]) },
  { type: 'leader-tenure', partition: p, epoch: 12 },
  { type: 'reset', partition: p, index: 99 },
  { type: 'relocate', partition: p, index: 42 },
];

describe('WAL batch framing', () => {
  it('decodes every record type back as it was encoded, in order', () => {
    const batch = encodeBatch(5, everyType);
    const found = batchAt(batch, 0);
    expect(found.kind).toBe('batch');
    if (found.kind !== 'batch') return;
    expect(found.sequence).toBe(5);
    expect(found.bytes).toBe(batch.length);
    expect(decodeRecords(found.body)).toEqual(everyType);
  });

  it('stores each record type as its fixed type byte', () => {
    // The bytes on disk: renaming a record type must never change its code.
    const codes = everyType.map((record) => {
      const found = batchAt(encodeBatch(1, [record]), 0);
      return found.kind === 'batch' ? [record.type, found.body[0]] : [record.type, undefined];
    });
    expect(Object.fromEntries(codes)).toEqual({ append: 1, 'truncate-after': 2, 'epoch-history': 3, 'leader-tenure': 4, reset: 5, relocate: 6 });
  });

  it('finds a batch at an offset inside a larger buffer and reads zeros after it as empty', () => {
    const batch = encodeBatch(1, everyType.slice(0, 2));
    const segment = Buffer.alloc(4096);
    batch.copy(segment, 100);
    const found = batchAt(segment, 100);
    expect(found.kind).toBe('batch');
    expect(batchAt(segment, 100 + batch.length)).toEqual({ kind: 'empty' });
    expect(batchAt(segment, segment.length - 3)).toEqual({ kind: 'empty' });
  });

  it('reports a flipped bit anywhere in the batch as invalid', () => {
    const batch = encodeBatch(9, everyType);
    for (const at of [4, 8, 15, 16, batchHeaderBytes, batch.length - 1]) {
      const damaged = Buffer.from(batch);
      damaged[at] = (damaged[at] ?? 0) ^ 0x10;
      expect(batchAt(damaged, 0).kind, `bit flipped at byte ${at}`).toBe('invalid');
    }
  });

  it('reports a batch cut short at any byte as invalid, never as a batch', () => {
    const batch = encodeBatch(2, everyType);
    for (let cut = 1; cut < batch.length; cut++) {
      const segment = Buffer.alloc(batch.length + 64);
      batch.copy(segment, 0, 0, cut);
      // The bytes after the cut are zeros (a preallocated segment); a zero-length write is empty.
      expect(batchAt(segment, 0).kind, `cut after ${cut} bytes`).toBe('invalid');
    }
  });

  it('refuses a partial header or a body that runs past the segment end', () => {
    const batch = encodeBatch(3, everyType);
    expect(batchAt(batch.subarray(0, 10), 0)).toMatchObject({ kind: 'invalid', reason: 'a partial header at the segment end' });
    expect(batchAt(batch.subarray(0, batch.length - 1), 0)).toMatchObject({ kind: 'invalid' });
  });

  it('refuses indexes that are not safe integers when encoding', () => {
    expect(() => encodeBatch(1, [{ type: 'reset', partition: p, index: -1 }])).toThrow(/not a non-negative safe integer/);
    expect(() => encodeBatch(0, [])).toThrow(/sequence 0/);
  });
});
