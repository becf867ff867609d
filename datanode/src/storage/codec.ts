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
 * Log entries:   [u8 kind | flags][u64 epoch][u16 key length][key]
 *                [if flags & 0x80: u8 request id length (1..64), request id][value bytes].
 *                The kind is the low 7 bits (1 put, 2 delete). Bit 0x80 says the entry carries
 *                the write's request id (RFC 0001 "Request ids and router buffering"); it was
 *                added after the first log entries were written, so an entry without it — every
 *                entry written before, and every write without an id now — has exactly the old
 *                layout and decodes with an empty request id. An older binary reading an entry
 *                with the flag stops on its unknown-kind assertion rather than misreading it.
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

/** Set in a log entry's first byte when a request id follows the key. */
const flagRequestId = 0x80;
/** Longest request id a log entry holds (kv.proto: at most 64 bytes; fits the u8 length). */
const logRequestIdBytesMax = 64;

/** A decoded log entry. */
export interface LogEntry {
  readonly kind: LogEntryKind;
  readonly epoch: number;
  readonly key: Buffer;
  readonly value: Buffer;
  /** The write's request id; empty when it had none (and for entries of the old layout). */
  readonly requestId: Buffer;
}

/** Encodes a log entry; an empty `requestId` gives the original layout, without the flag. */
export function encodeLogEntry(kind: LogEntryKind, epoch: number, key: Buffer, value: Buffer, requestId: Buffer = Buffer.alloc(0)): Buffer {
  assert(requestId.length <= logRequestIdBytesMax, `Request id of ${requestId.length} bytes exceeds ${logRequestIdBytesMax}`);
  const idBytes = requestId.length === 0 ? 0 : 1 + requestId.length;
  const valueAt = 11 + key.length + idBytes;
  const out = Buffer.allocUnsafe(valueAt + value.length);
  out.writeUInt8(idBytes === 0 ? kind : kind | flagRequestId, 0);
  out.writeBigUInt64BE(BigInt(epoch), 1);
  out.writeUInt16BE(key.length, 9);
  key.copy(out, 11);
  if (idBytes > 0) {
    out.writeUInt8(requestId.length, 11 + key.length);
    requestId.copy(out, 12 + key.length);
  }
  value.copy(out, valueAt);
  return out;
}

/** The parsed header of a log entry: kind, epoch, where the key and request id are, where the value starts. */
interface LogEntryLayout {
  readonly kind: LogEntryKind;
  readonly epoch: number;
  readonly keyEnd: number;
  readonly requestIdStart: number;
  readonly valueStart: number;
}

function logEntryLayout(buf: Buffer): LogEntryLayout {
  assert(buf.length >= 11, 'Log entry shorter than its header');
  const first = buf.readUInt8(0);
  const kind = first & ~flagRequestId;
  assert(kind === LogEntryKind.Put || kind === LogEntryKind.Delete, `Unknown log entry kind ${first}`);
  const keyEnd = 11 + buf.readUInt16BE(9);
  assert(buf.length >= keyEnd, 'Log entry shorter than its key');
  if ((first & flagRequestId) === 0) return { kind, epoch: Number(buf.readBigUInt64BE(1)), keyEnd, requestIdStart: keyEnd, valueStart: keyEnd };
  assert(buf.length > keyEnd, 'Log entry shorter than its request id length');
  const idLength = buf.readUInt8(keyEnd);
  assert(idLength >= 1 && idLength <= logRequestIdBytesMax, `Log entry request id of ${idLength} bytes`);
  assert(buf.length >= keyEnd + 1 + idLength, 'Log entry shorter than its request id');
  return { kind, epoch: Number(buf.readBigUInt64BE(1)), keyEnd, requestIdStart: keyEnd + 1, valueStart: keyEnd + 1 + idLength };
}

/** Decodes a log entry (of either layout; the buffers are copied so they outlive the LMDB read). */
export function decodeLogEntry(raw: Uint8Array): LogEntry {
  const buf = Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength);
  const layout = logEntryLayout(buf);
  return {
    kind: layout.kind,
    epoch: layout.epoch,
    key: Buffer.from(buf.subarray(11, layout.keyEnd)),
    value: Buffer.from(buf.subarray(layout.valueStart)),
    requestId: Buffer.from(buf.subarray(layout.requestIdStart, layout.valueStart)),
  };
}

/**
 * Reads only a log entry's kind and request id (copied; empty when none), without copying its
 * key or value: what rebuilding the dedup table needs from every retained entry.
 */
export function logEntryRequestId(raw: Uint8Array): { kind: LogEntryKind; requestId: Buffer } {
  const buf = Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength);
  const layout = logEntryLayout(buf);
  return { kind: layout.kind, requestId: Buffer.from(buf.subarray(layout.requestIdStart, layout.valueStart)) };
}

/**
 * Split markers (RFC 0003 "Splits"). A Put entry of the empty key — which no client can write:
 * keys are 1..4096 bytes — is a control entry: its value says that the partition splits at
 * `splitKey`, the keys from there on going to partition `childPartitionId`. Every replica that
 * applies it carves those keys out of its data into the child in the same storage transaction,
 * so all replicas cut at the same write. Layout of the value: [u8 1][u32 child id][u64 child
 * epoch][split key]. It travels through replication, the pending view and the log like any put.
 */
export interface SplitMarker {
  readonly childPartitionId: number;
  /**
   * The epoch the child is seeded at: the split's epoch (its record's first, split_from's
   * parent_epoch), never above the child's current epoch — the parent's log may be at a later
   * epoch by the time the marker is appended, which the child's epochs must not run ahead of.
   */
  readonly childEpoch: number;
  readonly splitKey: Buffer;
}

const splitMarkerVersion = 1;

/** Whether a log entry's key is the control key (an entry that is not a client write). */
export function isControlKey(key: Uint8Array): boolean {
  return key.length === 0;
}

/** Encodes a split marker's value. */
export function encodeSplitMarker(marker: SplitMarker): Buffer {
  assert(marker.splitKey.length > 0, 'A split marker needs a non-empty split key');
  assert(Number.isSafeInteger(marker.childEpoch) && marker.childEpoch >= 1, `A split marker's child epoch ${marker.childEpoch} is not a positive integer`);
  const out = Buffer.allocUnsafe(13 + marker.splitKey.length);
  out.writeUInt8(splitMarkerVersion, 0);
  out.writeUInt32BE(marker.childPartitionId, 1);
  out.writeBigUInt64BE(BigInt(marker.childEpoch), 5);
  marker.splitKey.copy(out, 13);
  return out;
}

/** Whether a value is a well-formed split marker (what a follower checks before taking an entry of the control key). */
export function isSplitMarker(value: Uint8Array): boolean {
  return value.length > 13 && value[0] === splitMarkerVersion;
}

/** Decodes a split marker's value. */
export function decodeSplitMarker(value: Uint8Array): SplitMarker {
  const buf = Buffer.from(value.buffer, value.byteOffset, value.byteLength);
  assert(buf.length > 13 && buf.readUInt8(0) === splitMarkerVersion, `Split marker of ${buf.length} bytes, version ${buf.length > 0 ? buf.readUInt8(0) : 'none'}`);
  return { childPartitionId: buf.readUInt32BE(1), childEpoch: Number(buf.readBigUInt64BE(5)), splitKey: Buffer.from(buf.subarray(13)) };
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
