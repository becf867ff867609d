import { describe, expect, it } from 'vitest';
import {
  LogEntryKind,
  decodeAppliedState,
  decodeLogEntry,
  decodeSplitMarker,
  decodeStoredValue,
  directKeyBytesMax,
  encodeAppliedState,
  encodeLogEntry,
  encodeSplitMarker,
  encodeStoredValue,
  isControlKey,
  isOverflowStoredKey,
  isSplitMarker,
  logIndexOf,
  logEntryRequestId,
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
    expect(put).toEqual({ kind: LogEntryKind.Put, epoch: 7, key: Buffer.from('key'), value: Buffer.from('val'), requestId: Buffer.alloc(0) });
    const del = decodeLogEntry(encodeLogEntry(LogEntryKind.Delete, 1, Buffer.alloc(4096, 1), Buffer.alloc(0)));
    expect(del.kind).toBe(LogEntryKind.Delete);
    expect(del.key.length).toBe(4096);
  });

  it.each([1, 16, 64])('round-trips log entries carrying a request id of %i bytes', (idBytes) => {
    const requestId = Buffer.alloc(idBytes, 0xab);
    const put = decodeLogEntry(encodeLogEntry(LogEntryKind.Put, 3, Buffer.from('key'), Buffer.from('value'), requestId));
    expect(put).toEqual({ kind: LogEntryKind.Put, epoch: 3, key: Buffer.from('key'), value: Buffer.from('value'), requestId });
    const del = decodeLogEntry(encodeLogEntry(LogEntryKind.Delete, 9, Buffer.alloc(4096, 2), Buffer.alloc(0), requestId));
    expect(del).toEqual({ kind: LogEntryKind.Delete, epoch: 9, key: Buffer.alloc(4096, 2), value: Buffer.alloc(0), requestId });
    // A value that starts like a request id length is still read after the id.
    const tricky = decodeLogEntry(encodeLogEntry(LogEntryKind.Put, 1, Buffer.from('k'), Buffer.from([5, 1, 2]), requestId));
    expect(tricky.value).toEqual(Buffer.from([5, 1, 2]));
    expect(logEntryRequestId(encodeLogEntry(LogEntryKind.Delete, 2, Buffer.from('k'), Buffer.alloc(0), requestId))).toEqual({ kind: LogEntryKind.Delete, requestId });
  });

  it('writes an entry without a request id in the original layout, and decodes entries written before request ids existed', () => {
    // The layout before request ids: [u8 kind][u64 epoch][u16 key length][key][value] — these bytes are a put of
    // key "ab", value "xyz" at epoch 5 and a delete of key "k" at epoch 2, as the first data nodes wrote them.
    const oldPut = Buffer.from('01' + '0000000000000005' + '0002' + '6162' + '78797a', 'hex');
    const oldDelete = Buffer.from('02' + '0000000000000002' + '0001' + '6b', 'hex');
    expect(decodeLogEntry(oldPut)).toEqual({ kind: LogEntryKind.Put, epoch: 5, key: Buffer.from('ab'), value: Buffer.from('xyz'), requestId: Buffer.alloc(0) });
    expect(decodeLogEntry(oldDelete)).toEqual({ kind: LogEntryKind.Delete, epoch: 2, key: Buffer.from('k'), value: Buffer.alloc(0), requestId: Buffer.alloc(0) });
    expect(logEntryRequestId(oldPut)).toEqual({ kind: LogEntryKind.Put, requestId: Buffer.alloc(0) });
    expect(encodeLogEntry(LogEntryKind.Put, 5, Buffer.from('ab'), Buffer.from('xyz'))).toEqual(oldPut);
    expect(encodeLogEntry(LogEntryKind.Delete, 2, Buffer.from('k'), Buffer.alloc(0), Buffer.alloc(0))).toEqual(oldDelete);
    // With an id: the flag bit on the kind, then the id length and the id after the key.
    expect(encodeLogEntry(LogEntryKind.Put, 5, Buffer.from('ab'), Buffer.from('xyz'), Buffer.from([0xee, 0xff])).toString('hex')).toBe(
      '81' + '0000000000000005' + '0002' + '6162' + '02eeff' + '78797a',
    );
  });

  it('refuses to encode a request id longer than 64 bytes (assertion)', () => {
    expect(() => encodeLogEntry(LogEntryKind.Put, 1, Buffer.from('k'), Buffer.alloc(0), Buffer.alloc(65))).toThrow();
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
    ['a log entry of an unknown kind with the request id flag', () => decodeLogEntry(Buffer.from('83' + '0000000000000001' + '0001' + '6b' + '01aa', 'hex'))],
    ['a log entry whose request id is cut off', () => decodeLogEntry(encodeLogEntry(LogEntryKind.Put, 1, Buffer.from('k'), Buffer.alloc(0), Buffer.alloc(16)).subarray(0, 20))],
    ['a log entry with the request id flag but no id length', () => decodeLogEntry(Buffer.from('81' + '0000000000000001' + '0001' + '6b', 'hex'))],
    ['a log entry with an empty flagged request id', () => decodeLogEntry(Buffer.from('81' + '0000000000000001' + '0001' + '6b' + '00', 'hex'))],
    ['a log entry with a request id of 65 bytes', () => decodeLogEntry(Buffer.concat([Buffer.from('81' + '0000000000000001' + '0001' + '6b' + '41', 'hex'), Buffer.alloc(65)]))],
    ['a log key', () => logIndexOf(Buffer.alloc(7))],
    ['an applied state', () => decodeAppliedState(Buffer.alloc(15))],
  ])('refuses to decode %s that is truncated or corrupt (assertion)', (_name, decode) => {
    expect(decode).toThrow();
  });
});

describe('split markers', () => {
  it('round-trips the child id, the child epoch and the split key', () => {
    const marker = { childPartitionId: 70_000, childEpoch: 2 ** 40, splitKey: Buffer.from([0, 1, 0xff]) };
    const value = encodeSplitMarker(marker);
    expect(isSplitMarker(value)).toBe(true);
    expect(decodeSplitMarker(value)).toEqual(marker);
  });

  it.each([
    ['an empty value', Buffer.alloc(0)],
    ['a value without a split key', encodeSplitMarker({ childPartitionId: 1, childEpoch: 1, splitKey: Buffer.from('k') }).subarray(0, 13)],
    ['another version', Buffer.concat([Buffer.from([2]), encodeSplitMarker({ childPartitionId: 1, childEpoch: 1, splitKey: Buffer.from('k') }).subarray(1)])],
    ['a client value', Buffer.from('hello world, a plain value')],
  ])('does not take %s for a split marker', (_name, value) => {
    expect(isSplitMarker(value)).toBe(false);
  });

  it('tells the control key (empty) from every client key', () => {
    expect(isControlKey(Buffer.alloc(0))).toBe(true);
    expect(isControlKey(Buffer.from([0]))).toBe(false);
  });
});
