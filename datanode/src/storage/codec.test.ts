import { describe, expect, it } from 'vitest';
import {
  LogEntryKind,
  decodeAppliedState,
  decodeLogEntry,
  decodeStoredValue,
  directKeyBytesMax,
  encodeAppliedState,
  encodeLogEntry,
  encodeStoredValue,
  isOverflowStoredKey,
  logIndexOf,
  logKey,
  overflowStoredKeyBytes,
  storedKey,
  storedVersion,
} from './codec.js';

describe('storage codec', () => {
  it('stores keys up to the direct limit as themselves and longer keys as prefix plus SHA-256', () => {
    const short = Buffer.alloc(directKeyBytesMax, 1);
    expect(storedKey(short)).toBe(short);
    expect(isOverflowStoredKey(storedKey(short))).toBe(false);
    const long = Buffer.alloc(4096, 2);
    const stored = storedKey(long);
    expect(stored.length).toBe(overflowStoredKeyBytes);
    expect(stored.subarray(0, directKeyBytesMax).equals(long.subarray(0, directKeyBytesMax))).toBe(true);
    expect(isOverflowStoredKey(stored)).toBe(true);
    const other = Buffer.from(long);
    other[4095] = 3;
    expect(storedKey(other).equals(stored)).toBe(false);
  });

  it.each([
    ['a short key', Buffer.from('k'), Buffer.from('value')],
    ['an empty value', Buffer.from('k'), Buffer.alloc(0)],
    ['a 4096-byte key', Buffer.alloc(4096, 9), Buffer.from('v')],
  ])('round-trips a stored value with %s', (_name, key, value) => {
    const raw = encodeStoredValue(key, 123456789012, value);
    const decoded = decodeStoredValue(raw);
    expect(decoded.version).toBe(123456789012);
    expect(decoded.value.equals(value)).toBe(true);
    expect(decoded.fullKey?.equals(key) ?? key.length <= directKeyBytesMax).toBe(true);
    expect(storedVersion(raw)).toBe(123456789012);
  });

  it('copies decoded values so they outlive the buffer they came from', () => {
    const raw = encodeStoredValue(Buffer.from('k'), 1, Buffer.from('abc'));
    const decoded = decodeStoredValue(raw);
    raw.fill(0);
    expect(decoded.value.toString()).toBe('abc');
  });

  it('round-trips log entries of both kinds', () => {
    const put = decodeLogEntry(encodeLogEntry(LogEntryKind.Put, 7, Buffer.from('key'), Buffer.from('val')));
    expect(put).toEqual({ kind: LogEntryKind.Put, epoch: 7, key: Buffer.from('key'), value: Buffer.from('val') });
    const del = decodeLogEntry(encodeLogEntry(LogEntryKind.Delete, 1, Buffer.alloc(4096, 1), Buffer.alloc(0)));
    expect(del.kind).toBe(LogEntryKind.Delete);
    expect(del.key.length).toBe(4096);
  });

  it('encodes log indexes so that byte order is numeric order', () => {
    const indexes = [1, 2, 255, 256, 65536, 2 ** 40, Number.MAX_SAFE_INTEGER];
    const keys = indexes.map(logKey);
    const sorted = [...keys].sort(Buffer.compare);
    expect(sorted.map(logIndexOf)).toEqual(indexes);
  });

  it('round-trips the applied state', () => {
    expect(decodeAppliedState(encodeAppliedState({ appliedIndex: 99, epoch: 3 }))).toEqual({ appliedIndex: 99, epoch: 3 });
  });

  it.each([
    ['a stored value', () => decodeStoredValue(Buffer.alloc(5))],
    ['a stored value whose full key is cut off', () => decodeStoredValue(encodeStoredValue(Buffer.alloc(3000), 1, Buffer.alloc(0)).subarray(0, 100))],
    ['a log entry', () => decodeLogEntry(Buffer.alloc(3))],
    ['a log entry of an unknown kind', () => decodeLogEntry(Buffer.alloc(11, 9))],
    ['a log key', () => logIndexOf(Buffer.alloc(7))],
    ['an applied state', () => decodeAppliedState(Buffer.alloc(15))],
  ])('refuses to decode %s that is truncated or corrupt (assertion)', (_name, decode) => {
    expect(decode).toThrow();
  });
});
