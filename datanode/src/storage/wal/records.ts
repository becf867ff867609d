/**
 * Byte layout of the write-ahead log (RFC 0002 "Segments and framing"). Pure: no I/O.
 *
 * A batch is what one group commit writes, and is valid only whole:
 *
 *     magic u32 | body length u32 | sequence u64 | CRC-32 u32 | body
 *
 * all big-endian; the CRC covers body length, sequence and body, so only the magic is outside
 * it. Sequence numbers start at 1 and grow by one per batch across segments, which is how
 * replay tells the log's end from stale bytes after it. The body is records back to back:
 *
 *     type u8 | keyspace length u16 | keyspace (UTF-8) | partition id u32 | fields of the type
 *
 *     append         index u64 | entry length u32 | entry (opaque here; codec.ts log entry)
 *     truncate-after index u64
 *     epoch-history  length u32 | bytes (epoch-history.ts encoding)
 *     leader-tenure  epoch u64
 *     reset          index u64 (a snapshot install finished at this applied index)
 *     relocate       index u64 (the partition's entries from this index on are copied into this
 *                    batch, right after the record: earlier copies are void; wal-engine.ts)
 *
 * u64 fields hold safe integers (< 2^53), as every index and epoch in Quire.
 */
import { crc32 } from 'node:zlib';
import { assert } from '@quire/common';

/** "QWAL". */
export const batchMagic = 0x5157414c;
/** Bytes of a batch header. */
export const batchHeaderBytes = 20;

/** A partition replica as the log names it. */
export interface WalPartition {
  readonly keyspace: string;
  readonly partitionId: number;
}

export type WalRecord =
  | { readonly type: 'append'; readonly partition: WalPartition; readonly index: number; readonly entry: Buffer }
  | { readonly type: 'truncate-after'; readonly partition: WalPartition; readonly index: number }
  | { readonly type: 'epoch-history'; readonly partition: WalPartition; readonly bytes: Buffer }
  | { readonly type: 'leader-tenure'; readonly partition: WalPartition; readonly epoch: number }
  | { readonly type: 'reset'; readonly partition: WalPartition; readonly index: number }
  | { readonly type: 'relocate'; readonly partition: WalPartition; readonly index: number };

/** The stored type byte of each record; the names exist only in memory. */
const typeCodes = { append: 1, 'truncate-after': 2, 'epoch-history': 3, 'leader-tenure': 4, reset: 5, relocate: 6 } as const;
const keyspaceBytesMax = 0xffff;

function writeU64(out: Buffer, value: number, at: number): number {
  assert(Number.isSafeInteger(value) && value >= 0, `WAL field ${value} is not a non-negative safe integer`);
  out.writeUInt32BE(Math.floor(value / 0x1_0000_0000), at);
  out.writeUInt32BE(value >>> 0, at + 4);
  return at + 8;
}

function readU64(buf: Buffer, at: number): number {
  const high = buf.readUInt32BE(at);
  assert(high < 0x20_0000, `WAL field at ${at} is beyond 2^53`);
  return high * 0x1_0000_0000 + buf.readUInt32BE(at + 4);
}

function recordBytes(record: WalRecord): number {
  const head = 1 + 2 + Buffer.byteLength(record.partition.keyspace) + 4;
  switch (record.type) {
    case 'append':
      return head + 8 + 4 + record.entry.length;
    case 'epoch-history':
      return head + 4 + record.bytes.length;
    case 'truncate-after':
    case 'leader-tenure':
    case 'reset':
    case 'relocate':
      return head + 8;
  }
}

function writeRecord(out: Buffer, record: WalRecord, at: number): number {
  const keyspaceBytes = Buffer.byteLength(record.partition.keyspace);
  assert(keyspaceBytes <= keyspaceBytesMax, `WAL keyspace name of ${keyspaceBytes} bytes exceeds ${keyspaceBytesMax}`);
  assert(Number.isInteger(record.partition.partitionId) && record.partition.partitionId >= 0 && record.partition.partitionId <= 0xffff_ffff, `WAL partition id ${record.partition.partitionId}`);
  let p = out.writeUInt8(typeCodes[record.type], at);
  p = out.writeUInt16BE(keyspaceBytes, p);
  p += out.write(record.partition.keyspace, p, 'utf8');
  p = out.writeUInt32BE(record.partition.partitionId, p);
  switch (record.type) {
    case 'append':
      p = writeU64(out, record.index, p);
      p = out.writeUInt32BE(record.entry.length, p);
      return p + record.entry.copy(out, p);
    case 'epoch-history':
      p = out.writeUInt32BE(record.bytes.length, p);
      return p + record.bytes.copy(out, p);
    case 'truncate-after':
    case 'reset':
    case 'relocate':
      return writeU64(out, record.index, p);
    case 'leader-tenure':
      return writeU64(out, record.epoch, p);
  }
}

/** Encodes records as one batch with the given sequence number. */
export function encodeBatch(sequence: number, records: readonly WalRecord[]): Buffer {
  assert(Number.isSafeInteger(sequence) && sequence >= 1, `WAL batch sequence ${sequence}`);
  let bodyBytes = 0;
  for (const record of records) bodyBytes += recordBytes(record);
  assert(bodyBytes <= 0xffff_ffff - batchHeaderBytes, `WAL batch body of ${bodyBytes} bytes`);
  const out = Buffer.allocUnsafe(batchHeaderBytes + bodyBytes);
  out.writeUInt32BE(batchMagic, 0);
  out.writeUInt32BE(bodyBytes, 4);
  writeU64(out, sequence, 8);
  let at = batchHeaderBytes;
  for (const record of records) at = writeRecord(out, record, at);
  assert(at === out.length, `WAL batch encoded ${at} of ${out.length} bytes`);
  out.writeUInt32BE(batchCrc(out, bodyBytes), 16);
  return out;
}

function batchCrc(buf: Buffer, bodyBytes: number, at = 0): number {
  // Body length and sequence, then the body (skipping the CRC field itself).
  return crc32(buf.subarray(at + batchHeaderBytes, at + batchHeaderBytes + bodyBytes), crc32(buf.subarray(at + 4, at + 16)));
}

/** What is at an offset of a segment. */
export type BatchAt =
  /** A whole batch whose CRC checks; `bytes` is its length with the header. */
  | { readonly kind: 'batch'; readonly sequence: number; readonly bytes: number; readonly body: Buffer }
  /** No batch: zeros (a preallocated segment's unused space) or the segment's end. */
  | { readonly kind: 'empty' }
  /** Something that is not a whole, checked batch: a torn write, or damage. */
  | { readonly kind: 'invalid'; readonly reason: string };

/** Reads the batch header and body at `at` of `buf` (a segment's bytes), checking its CRC. */
export function batchAt(buf: Buffer, at: number): BatchAt {
  if (at + batchHeaderBytes > buf.length) {
    return buf.subarray(at).every((b) => b === 0) ? { kind: 'empty' } : { kind: 'invalid', reason: 'a partial header at the segment end' };
  }
  const magic = buf.readUInt32BE(at);
  if (magic !== batchMagic) {
    return magic === 0 && buf.subarray(at, at + batchHeaderBytes).every((b) => b === 0)
      ? { kind: 'empty' }
      : { kind: 'invalid', reason: `magic ${magic.toString(16)} instead of ${batchMagic.toString(16)}` };
  }
  const bodyBytes = buf.readUInt32BE(at + 4);
  if (at + batchHeaderBytes + bodyBytes > buf.length) return { kind: 'invalid', reason: `a body of ${bodyBytes} bytes runs past the segment end` };
  const crc = buf.readUInt32BE(at + 16);
  if (batchCrc(buf, bodyBytes, at) !== crc) return { kind: 'invalid', reason: 'CRC mismatch' };
  const high = buf.readUInt32BE(at + 8);
  if (high >= 0x20_0000) return { kind: 'invalid', reason: 'sequence beyond 2^53' };
  const sequence = high * 0x1_0000_0000 + buf.readUInt32BE(at + 12);
  return { kind: 'batch', sequence, bytes: batchHeaderBytes + bodyBytes, body: buf.subarray(at + batchHeaderBytes, at + batchHeaderBytes + bodyBytes) };
}

/** Decodes a checked batch body into its records (entries and byte fields are copies). */
export function decodeRecords(body: Buffer): WalRecord[] {
  const out: WalRecord[] = [];
  let at = 0;
  const need = (bytes: number, what: string): void => {
    assert(at + bytes <= body.length, `WAL record ${out.length}: ${what} runs past the batch end`);
  };
  while (at < body.length) {
    need(3, 'header');
    const code = body.readUInt8(at);
    const keyspaceBytes = body.readUInt16BE(at + 1);
    at += 3;
    need(keyspaceBytes + 4, 'partition');
    const partition: WalPartition = { keyspace: body.toString('utf8', at, at + keyspaceBytes), partitionId: body.readUInt32BE(at + keyspaceBytes) };
    at += keyspaceBytes + 4;
    switch (code) {
      case typeCodes.append: {
        need(12, 'append fields');
        const index = readU64(body, at);
        const length = body.readUInt32BE(at + 8);
        at += 12;
        need(length, 'entry');
        out.push({ type: 'append', partition, index, entry: Buffer.from(body.subarray(at, at + length)) });
        at += length;
        break;
      }
      case typeCodes['epoch-history']: {
        need(4, 'epoch-history length');
        const length = body.readUInt32BE(at);
        at += 4;
        need(length, 'epoch history');
        out.push({ type: 'epoch-history', partition, bytes: Buffer.from(body.subarray(at, at + length)) });
        at += length;
        break;
      }
      case typeCodes['truncate-after']:
      case typeCodes['leader-tenure']:
      case typeCodes.reset:
      case typeCodes.relocate: {
        need(8, 'u64 field');
        const value = readU64(body, at);
        at += 8;
        if (code === typeCodes['leader-tenure']) out.push({ type: 'leader-tenure', partition, epoch: value });
        else out.push({ type: code === typeCodes.reset ? 'reset' : code === typeCodes.relocate ? 'relocate' : 'truncate-after', partition, index: value });
        break;
      }
      default:
        assert(false, `WAL record ${out.length}: unknown type ${code}`);
    }
  }
  return out;
}
