import { describe, expect, it } from 'vitest';
import { ReplicationService, SnapshotResponse } from '@quire/proto';
import { encodeSnapshotResponse, replicationServiceDefinition } from './snapshot-wire.js';

/** A deterministic generator (no Math.random in tests). */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

/** `n` bytes: a random first byte, then its successors (the encoder copies bytes; their values do not steer it). */
const bytes = (next: () => number, n: number): Buffer => {
  const out = Buffer.allocUnsafe(n);
  const first = Math.floor(next() * 256);
  for (let i = 0; i < n; i++) out[i] = (first + i) & 0xff;
  return out;
};

describe('encodeSnapshotResponse', () => {
  it('writes exactly the bytes of the generated encoder for chunks of every shape (empty values, zero and 2^53-1 versions, 1..20 000-byte values)', () => {
    const next = rng(7);
    const sizes = [0, 1, 127, 128, 16_383, 16_384, 20_000];
    const versions = [0, 1, 127, 128, 2 ** 32, Number.MAX_SAFE_INTEGER];
    for (let round = 0; round < 30; round++) {
      const items = Array.from({ length: Math.floor(next() * 50) }, () => ({
        key: bytes(next, 1 + Math.floor(next() * 40)),
        value: bytes(next, sizes[Math.floor(next() * sizes.length)] as number),
        version: versions[Math.floor(next() * versions.length)] as number,
      }));
      const message: SnapshotResponse = { part: { $case: 'chunk', value: { items } } };
      const fast = encodeSnapshotResponse(message);
      expect(fast.equals(Buffer.from(SnapshotResponse.encode(message).finish()))).toBe(true);
      const back = SnapshotResponse.decode(fast).part;
      expect(back?.$case === 'chunk' ? back.value.items.map((kv) => [Buffer.from(kv.key).toString('hex'), kv.value.length, kv.version]) : undefined).toEqual(
        items.map((kv) => [kv.key.toString('hex'), kv.value.length, kv.version]),
      );
    }
  });

  it('encodes headers, ends and empty chunks as the generated encoder does', () => {
    const parts: SnapshotResponse[] = [
      { part: { $case: 'header', value: { appliedIndex: 42, appliedEpoch: 3 } } },
      { part: { $case: 'end', value: { keyCount: 10, payloadBytes: 12_345 } } },
      { part: { $case: 'chunk', value: { items: [] } } },
      { part: undefined },
    ];
    for (const message of parts) expect(encodeSnapshotResponse(message).equals(Buffer.from(SnapshotResponse.encode(message).finish()))).toBe(true);
  });

  it('is the Snapshot method\'s response encoder in the service definition the data node serves, and only that', () => {
    expect(replicationServiceDefinition.snapshot.responseSerialize).toBe(encodeSnapshotResponse);
    expect(ReplicationService.snapshot.responseSerialize).not.toBe(encodeSnapshotResponse);
    expect({ ...replicationServiceDefinition.snapshot, responseSerialize: undefined }).toEqual({ ...ReplicationService.snapshot, responseSerialize: undefined });
    for (const method of Object.keys(ReplicationService) as (keyof typeof ReplicationService)[]) {
      if (method !== 'snapshot') expect(replicationServiceDefinition[method]).toBe(ReplicationService[method]);
    }
  });
});
