import { describe, expect, it } from 'vitest';
import { compareBytes, displayBytes, prefixEnd, scanRange } from './bytes.js';

const b = (s: string): Buffer => Buffer.from(s, 'latin1');

describe('byte-string helpers', () => {
  it('compares bytes unsigned and lexicographically', () => {
    expect(compareBytes(b('a'), b('b'))).toBeLessThan(0);
    expect(compareBytes(b('ab'), b('a'))).toBeGreaterThan(0);
    expect(compareBytes(Buffer.from([0x7f]), Buffer.from([0x80]))).toBeLessThan(0);
    expect(compareBytes(b(''), b(''))).toBe(0);
  });

  it.each([
    ['abc', 'abd'],
    ['a\xff', 'b'],
    ['a\xff\xff', 'b'],
  ])('prefixEnd(%j) is %j', (prefix, end) => {
    expect(prefixEnd(b(prefix))?.toString('latin1')).toBe(end);
  });

  it('has no prefixEnd for the empty prefix or all 0xff', () => {
    expect(prefixEnd(b(''))).toBeUndefined();
    expect(prefixEnd(Buffer.from([0xff, 0xff]))).toBeUndefined();
  });

  it('does not modify the prefix it is given', () => {
    const p = b('ab');
    prefixEnd(p);
    expect(p.toString()).toBe('ab');
  });

  it.each([
    ['', '', 'user/', 'user/', 'user0'],
    ['user/5', '', 'user/', 'user/5', 'user0'],
    ['a', 'user/3', 'user/', 'user/', 'user/3'],
    ['', '', '', '', ''],
    ['b', 'c', '', 'b', 'c'],
  ])('scanRange(start %j, end %j, prefix %j) = [%j, %j)', (start, end, prefix, lo, hi) => {
    expect(scanRange(b(start), b(end), b(prefix))).toEqual({ start: b(lo), end: b(hi) });
  });

  it.each([
    ['c', 'b', ''],
    ['b', 'b', ''],
    ['', '', '\xff'],
    ['x', '', 'user/'],
    ['', 'a', 'user/'],
  ])('scanRange(start %j, end %j, prefix %j) is empty or unbounded as appropriate', (start, end, prefix) => {
    const r = scanRange(b(start), b(end), b(prefix));
    if (prefix === '\xff') {
      expect(r).toEqual({ start: b('\xff'), end: b('') });
    } else {
      expect(r).toBeUndefined();
    }
  });

  it('displays printable UTF-8 as text and anything else as hex', () => {
    expect(displayBytes(Buffer.from('héllo'))).toBe('héllo');
    expect(displayBytes(Buffer.from([0, 1, 2]))).toBe('0x000102');
    expect(displayBytes(Buffer.from([0xff, 0xfe]))).toBe('0xfffe');
  });
});
