/**
 * Byte-string helpers shared by scans, routing and display. Keys order by unsigned
 * lexicographic byte comparison everywhere (LMDB, scans, merges).
 */

/** Compares two byte strings in unsigned lexicographic order. */
export function compareBytes(a: Uint8Array, b: Uint8Array): number {
  return Buffer.compare(a, b);
}

/**
 * Returns the smallest byte string greater than every string with this prefix, or undefined
 * when there is none (the prefix is empty or all 0xff).
 */
export function prefixEnd(prefix: Uint8Array): Buffer | undefined {
  const end = Buffer.from(prefix);
  for (let i = end.length - 1; i >= 0; i--) {
    const byte = end[i];
    if (byte !== undefined && byte < 0xff) {
      end[i] = byte + 1;
      return end.subarray(0, i + 1);
    }
  }
  return undefined;
}

/** A [start, end) key range; an empty bound is unbounded on that side. */
export interface KeyRange {
  readonly start: Buffer;
  readonly end: Buffer;
}

/**
 * Intersects [start, end) with the range of `prefix`. Returns undefined when the result is
 * empty. Empty `end` means unbounded.
 */
export function scanRange(start: Buffer, end: Buffer, prefix: Buffer): KeyRange | undefined {
  let lo = start;
  let hi = end;
  if (prefix.length > 0) {
    if (compareBytes(prefix, lo) > 0) lo = prefix;
    const pEnd = prefixEnd(prefix);
    if (pEnd !== undefined && (hi.length === 0 || compareBytes(pEnd, hi) < 0)) hi = pEnd;
  }
  if (hi.length > 0 && compareBytes(lo, hi) >= 0) return undefined;
  return { start: lo, end: hi };
}

/** Renders bytes for people: UTF-8 when printable, else hex with a 0x prefix. */
export function displayBytes(bytes: Uint8Array): string {
  const text = Buffer.from(bytes).toString('utf8');
  if (!text.includes('\uFFFD') && !/[\u0000-\u0008\u000e-\u001f\u007f]/.test(text)) return text;
  return `0x${Buffer.from(bytes).toString('hex')}`;
}
