import { describe, expect, it } from 'vitest';
import { isQuireError } from './errors/quire-error.js';
import { defaultLimits, requestIdBytesMax, resolveKeyspaceName, validateKey, validateRequestId, validateScanBound, validateValue } from './limits.js';

const caught = (f: () => void): unknown => {
  try {
    f();
  } catch (err) {
    return err;
  }
  return undefined;
};

describe('request limits', () => {
  it.each([1, 100, 4096])('accepts a key of %i bytes', (n) => {
    expect(() => validateKey(Buffer.alloc(n), defaultLimits)).not.toThrow();
  });

  it('refuses an empty key with INVALID_ARGUMENT naming the field and the range', () => {
    const e = caught(() => validateKey(Buffer.alloc(0), defaultLimits));
    expect(isQuireError(e, 'INVALID_ARGUMENT')).toBe(true);
    expect((e as Error).message).toBe('key must not be empty (keys are 1..4096 bytes)');
  });

  it('refuses a key of 4097 bytes with KEY_TOO_LARGE carrying field, limit and actual size', () => {
    const e = caught(() => validateKey(Buffer.alloc(4097), defaultLimits));
    expect(isQuireError(e, 'KEY_TOO_LARGE')).toBe(true);
    expect((e as { details: unknown }).details).toEqual({ field: 'key', limit: 4096, actual: 4097 });
    expect((e as Error).message).toBe('key is 4097 bytes; the limit is 4096 bytes');
  });

  it('accepts a value of exactly 1 MiB and an empty value, refuses one byte more', () => {
    expect(() => validateValue(Buffer.alloc(1024 * 1024), defaultLimits)).not.toThrow();
    expect(() => validateValue(Buffer.alloc(0), defaultLimits)).not.toThrow();
    const e = caught(() => validateValue(Buffer.alloc(1024 * 1024 + 1), defaultLimits));
    expect(isQuireError(e, 'VALUE_TOO_LARGE')).toBe(true);
    expect((e as { details: unknown }).details).toEqual({ field: 'value', limit: 1048576, actual: 1048577 });
  });

  it('honours configured limits', () => {
    const small = { ...defaultLimits, keyBytesMax: 8, valueBytesMax: 2 };
    expect(() => validateKey(Buffer.alloc(9), small)).toThrow('the limit is 8 bytes');
    expect(() => validateValue(Buffer.alloc(3), small)).toThrow('the limit is 2 bytes');
  });

  it('allows empty scan bounds but not bounds over the key limit', () => {
    expect(() => validateScanBound(Buffer.alloc(0), defaultLimits, 'start')).not.toThrow();
    const e = caught(() => validateScanBound(Buffer.alloc(4097), defaultLimits, 'end'));
    expect((e as { details: { field: string } }).details.field).toBe('end');
  });

  it.each([
    ['', 'default'],
    ['default', 'default'],
    ['users-2', 'users-2'],
    ['a_b', 'a_b'],
  ])('resolves keyspace %j to %j', (given, expected) => {
    expect(resolveKeyspaceName(given, defaultLimits)).toBe(expected);
  });

  it.each(['Users', 'has space', '-leading', 'x'.repeat(65), 'ünïcode'])('refuses keyspace name %j with INVALID_ARGUMENT', (name) => {
    const e = caught(() => resolveKeyspaceName(name, defaultLimits));
    expect(isQuireError(e, 'INVALID_ARGUMENT')).toBe(true);
    expect((e as { details: { field: string } }).details.field).toBe('keyspace');
  });

  it.each([0, 16, 64])('accepts a request id of %i bytes (empty: none)', (n) => {
    expect(() => validateRequestId(Buffer.alloc(n))).not.toThrow();
  });

  it('refuses a request id of 65 bytes with INVALID_ARGUMENT naming request_id and the limit', () => {
    expect(requestIdBytesMax).toBe(64);
    const e = caught(() => validateRequestId(Buffer.alloc(65)));
    expect(isQuireError(e, 'INVALID_ARGUMENT')).toBe(true);
    expect((e as { details: unknown }).details).toEqual({ field: 'request_id', limit: 64, actual: 65 });
    expect((e as Error).message).toBe('request_id is 65 bytes; the limit is 64 bytes');
  });
});
