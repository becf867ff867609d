/**
 * Binary layouts of what the data node stores. Pure functions with round-trip tests.
 *
 * Stored keys. LMDB (as built by lmdb-js) accepts keys up to 1978 bytes, but Quire keys
 * may be 4096 bytes. A key of at most `directKeyBytesMax` bytes is stored as itself; a longer
 * key K is stored as K[0:directKeyBytesMax] ++ sha256(K), and the full key is kept in the
 * value. Stored order equals key order except among long keys that share their first
 * directKeyBytesMax bytes (an "overflow group"), which sort by hash; scans sort each such
 * group in memory (see lmdb-engine.ts). Point lookups are exact either way.
 *
 * Stored values: [u8 flags][u64 version][if flags & 1: u16 key length, key][value bytes].
 * Log entries:   [u8 kind][u64 epoch][u16 key length][key][value bytes].
 * Log keys:      u64 big-endian index, so the log sorts by index.
 */
import { createHash } from 'node:crypto';
import { assert } from '@quire/common';

/** Keys up to this length are stored as themselves. */
export const directKeyBytesMax = 1900;
const hashBytes = 32;
/** Length of the stored form of every long key. */
export const overflowStoredKeyBytes = directKeyBytesMax + hashBytes;

const flagOverflowKey = 1;

/** Returns the LMDB key under which `key` is stored. */
export function storedKey(key: Buffer): Buffer {
  if (key.length <= directKeyBytesMax) return key;
  const digest = createHash('sha256').update(key).digest();
  return Buffer.concat([key.subarray(0, directKeyBytesMax), digest]);
}

/** Whether a stored key is the hashed form of a long key. */
export function isOverflowStoredKey(stored: Uint8Array): boolean {
  return stored.length === overflowStoredKeyBytes;
}

/** A decoded stored value. */
export interface StoredValue {
  /** The partition log index of the key's last write. */
  readonly version: number;
  readonly value: Buffer;
  /** The full key, present only for long keys. */
  readonly fullKey: Buffer | undefined;
}

/** Encodes a stored value. */
export function encodeStoredValue(key: Buffer, version: number, value: Buffer): Buffer {
  const overflow = key.length > directKeyBytesMax;
  const header = overflow ? 11 + key.length : 9;
  const out = Buffer.allocUnsafe(header + value.length);
  out.writeUInt8(overflow ? flagOverflowKey : 0, 0);
  out.writeBigUInt64BE(BigInt(version), 1);
  if (overflow) {
    out.writeUInt16BE(key.length, 9);
    key.copy(out, 11);
  }
  value.copy(out, header);
  return out;
}

/** Decodes a stored value (the buffer is copied so it outlives the LMDB read). */
export function decodeStoredValue(raw: Uint8Array): StoredValue {
  const buf = Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength);
  assert(buf.length >= 9, `Stored value of ${buf.length} bytes is shorter than its header`);
  const flags = buf.readUInt8(0);
  const version = Number(buf.readBigUInt64BE(1));
  if ((flags & flagOverflowKey) !== 0) {
    const keyLength = buf.readUInt16BE(9);
    assert(buf.length >= 11 + keyLength, 'Stored value shorter than its full key');
    return {
      version,
      fullKey: Buffer.from(buf.subarray(11, 11 + keyLength)),
      value: Buffer.from(buf.subarray(11 + keyLength)),
    };
  }
  return { version, value: Buffer.from(buf.subarray(9)), fullKey: undefined };
}

/** Reads only the version of a stored value. */
export function storedVersion(raw: Uint8Array): number {
  assert(raw.length >= 9, 'Stored value shorter than its header');
  return Number(Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength).readBigUInt64BE(1));
}

/** What a log entry did. */
export const LogEntryKind = { Put: 1, Delete: 2 } as const;
/** A log entry kind value. */
export type LogEntryKind = (typeof LogEntryKind)[keyof typeof LogEntryKind];

/** A decoded log entry. */
export interface LogEntry {
  readonly kind: LogEntryKind;
  readonly epoch: number;
  readonly key: Buffer;
  readonly value: Buffer;
}

/** Encodes a log entry. */
export function encodeLogEntry(kind: LogEntryKind, epoch: number, key: Buffer, value: Buffer): Buffer {
  const out = Buffer.allocUnsafe(11 + key.length + value.length);
  out.writeUInt8(kind, 0);
  out.writeBigUInt64BE(BigInt(epoch), 1);
  out.writeUInt16BE(key.length, 9);
  key.copy(out, 11);
  value.copy(out, 11 + key.length);
  return out;
}

/** Decodes a log entry. */
export function decodeLogEntry(raw: Uint8Array): LogEntry {
  const buf = Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength);
  assert(buf.length >= 11, 'Log entry shorter than its header');
  const kind = buf.readUInt8(0);
  assert(kind === 1 || kind === 2, `Unknown log entry kind ${kind}`);
  const keyLength = buf.readUInt16BE(9);
  assert(buf.length >= 11 + keyLength, 'Log entry shorter than its key');
  return {
    kind: kind === 1 ? LogEntryKind.Put : LogEntryKind.Delete,
    epoch: Number(buf.readBigUInt64BE(1)),
    key: Buffer.from(buf.subarray(11, 11 + keyLength)),
    value: Buffer.from(buf.subarray(11 + keyLength)),
  };
}

/** Encodes a log index as an 8-byte big-endian key. */
export function logKey(index: number): Buffer {
  const out = Buffer.allocUnsafe(8);
  out.writeBigUInt64BE(BigInt(index));
  return out;
}

/** Decodes a log key. */
export function logIndexOf(raw: Uint8Array): number {
  assert(raw.length === 8, `Log key of ${raw.length} bytes`);
  return Number(Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength).readBigUInt64BE(0));
}

/** Partition progress: the applied index and the epoch it was written in. */
export interface AppliedState {
  readonly appliedIndex: number;
  readonly epoch: number;
}

/** Encodes applied state. */
export function encodeAppliedState(state: AppliedState): Buffer {
  const out = Buffer.allocUnsafe(16);
  out.writeBigUInt64BE(BigInt(state.appliedIndex), 0);
  out.writeBigUInt64BE(BigInt(state.epoch), 8);
  return out;
}

/** Decodes applied state. */
export function decodeAppliedState(raw: Uint8Array): AppliedState {
  assert(raw.length === 16, `Applied state of ${raw.length} bytes`);
  const buf = Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength);
  return { appliedIndex: Number(buf.readBigUInt64BE(0)), epoch: Number(buf.readBigUInt64BE(8)) };
}
