/**
 * Independent keys, Jepsen style: a few keys in use at once, each retired after a fixed number
 * of operations and replaced by a fresh one, so operations on a key overlap (the checker has
 * work) while every per-key linearizability search stays small.
 */
import type { Rng } from '@quire/common';

/** Returns a picker of integer keys: `active` at a time, each used at most `opsPerKeyMax` times. */
export function keyRotation(active: number, opsPerKeyMax: number, rng: Rng): () => number {
  const slots = Array.from({ length: active }, (_, i) => i);
  const used = new Map<number, number>();
  let nextKey = active;
  return () => {
    const slot = rng.below(slots.length);
    const key = slots[slot] ?? 0;
    const n = (used.get(key) ?? 0) + 1;
    // A retired key's count is no longer needed.
    if (n >= opsPerKeyMax) {
      slots[slot] = nextKey++;
      used.delete(key);
    } else {
      used.set(key, n);
    }
    return key;
  };
}
