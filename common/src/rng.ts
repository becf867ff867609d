/**
 * Randomness as an injected dependency, so simulations replay from one seed.
 */
import { randomBytes } from 'node:crypto';

/** A source of random numbers. */
export interface Rng {
  /** A float in [0, 1). */
  next(): number;
  /** An integer in [0, bound). */
  below(bound: number): number;
  /** A random identifier of `bytes` bytes, hex-encoded. */
  id(bytes: number): string;
}

/** The system's cryptographic random source. */
export const systemRng: Rng = Object.freeze({
  next: () => randomBytes(4).readUInt32BE(0) / 2 ** 32,
  below: (bound: number) => Math.floor((randomBytes(4).readUInt32BE(0) / 2 ** 32) * bound),
  id: (bytes: number) => randomBytes(bytes).toString('hex'),
});

/** A deterministic generator (mulberry32) for tests and simulations. */
export function seededRng(seed: number): Rng {
  let state = seed >>> 0;
  const next = (): number => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
  return {
    next,
    below: (bound: number) => Math.floor(next() * bound),
    id: (bytes: number) => {
      let out = '';
      for (let i = 0; i < bytes; i++) out += Math.floor(next() * 256).toString(16).padStart(2, '0');
      return out;
    },
  };
}
