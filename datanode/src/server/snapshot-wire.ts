/**
 * The wire encoding of Replication.Snapshot's parts, written by hand for chunks: one exact-size
 * Buffer per chunk, each key and value copied once. The generated encoder grows a buffer by
 * doubling (zero-filled allocations and copies), copies the result again to finish it, and the
 * generated service definition copies it once more into a Buffer: about five copies and as many
 * large allocations per snapshot byte, which the move benchmark found in the source node's CPU
 * and garbage-collection time (docs/benchmarks.md "Replica moves"). Headers and ends are small
 * and keep the generated encoder.
 *
 * The bytes are exactly what SnapshotResponse.encode writes (proto3: fields in number order,
 * empty bytes and zero versions omitted); snapshot-wire.test.ts compares the two.
 */
import { ReplicationService, SnapshotResponse } from '@quire/proto';
import { assert } from '@quire/common';

/** Bytes of `n` (a non-negative safe integer) as a varint. */
function varintBytes(n: number): number {
  let bytes = 1;
  while (n >= 128) {
    n = Math.floor(n / 128);
    bytes++;
  }
  return bytes;
}

function writeVarint(out: Buffer, n: number, at: number): number {
  while (n >= 128) {
    out[at++] = (n % 128) | 128;
    n = Math.floor(n / 128);
  }
  out[at++] = n;
  return at;
}

/** Field tags: SnapshotResponse.chunk = 2, SnapshotChunk.items = 1, KeyValue key = 1, value = 2 (bytes), version = 3 (varint). */
const chunkTag = (2 << 3) | 2;
const itemTag = (1 << 3) | 2;
const keyTag = (1 << 3) | 2;
const valueTag = (2 << 3) | 2;
const versionTag = 3 << 3;

/** Encodes one SnapshotResponse as SnapshotResponse.encode does, chunks without intermediate copies. */
export function encodeSnapshotResponse(message: SnapshotResponse): Buffer {
  if (message.part?.$case !== 'chunk') return Buffer.from(SnapshotResponse.encode(message).finish());
  const items = message.part.value.items;
  const sizes = new Array<number>(items.length);
  let chunkBytes = 0;
  for (let i = 0; i < items.length; i++) {
    const kv = items[i] as (typeof items)[number];
    assert(Number.isSafeInteger(kv.version) && kv.version >= 0, `Snapshot version ${kv.version} is not a non-negative integer`);
    let size = 0;
    if (kv.key.length !== 0) size += 1 + varintBytes(kv.key.length) + kv.key.length;
    if (kv.value.length !== 0) size += 1 + varintBytes(kv.value.length) + kv.value.length;
    if (kv.version !== 0) size += 1 + varintBytes(kv.version);
    sizes[i] = size;
    chunkBytes += 1 + varintBytes(size) + size;
  }
  const total = 1 + varintBytes(chunkBytes) + chunkBytes;
  const out = Buffer.allocUnsafe(total);
  let at = 0;
  out[at++] = chunkTag;
  at = writeVarint(out, chunkBytes, at);
  for (let i = 0; i < items.length; i++) {
    const kv = items[i] as (typeof items)[number];
    out[at++] = itemTag;
    at = writeVarint(out, sizes[i] as number, at);
    if (kv.key.length !== 0) {
      out[at++] = keyTag;
      at = writeVarint(out, kv.key.length, at);
      out.set(kv.key, at);
      at += kv.key.length;
    }
    if (kv.value.length !== 0) {
      out[at++] = valueTag;
      at = writeVarint(out, kv.value.length, at);
      out.set(kv.value, at);
      at += kv.value.length;
    }
    if (kv.version !== 0) {
      out[at++] = versionTag;
      at = writeVarint(out, kv.version, at);
    }
  }
  assert(at === total, `Snapshot chunk encoded ${at} of ${total} bytes`);
  return out;
}

/** The Replication service definition with Snapshot's responses encoded by encodeSnapshotResponse. */
export const replicationServiceDefinition: typeof ReplicationService = {
  ...ReplicationService,
  snapshot: { ...ReplicationService.snapshot, responseSerialize: encodeSnapshotResponse },
};
