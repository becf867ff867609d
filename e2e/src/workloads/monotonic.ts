/**
 * The monotonic workload: a few counters, each process alternating a read of a counter with an
 * increment — a compare-and-set from the value it last saw to that value plus one (from absent
 * to "1" at first). Recorded in the register model, so the linearizability checker judges it;
 * a linearizable counter is in particular monotonic: no read goes back, and no increment is
 * applied twice or lost after it was acknowledged.
 */
import type { QuireClient } from '@quire/client';
import type { Rng } from '@quire/common';
import { errorLabel } from './outcome.js';
import { casRegister } from './register.js';
import { keyRotation } from './key-rotation.js';
import { type Workload } from './runner.js';

/** Options of the monotonic workload. */
export interface MonotonicWorkloadOptions {
  readonly prefix: string;
  /** Counters in use at once. */
  readonly counters: number;
  /** Operations on one counter before a fresh one replaces it (keeps each per-key search small). */
  readonly opsPerKeyMax: number;
  readonly rng: Rng;
  readonly clientFor: (process: number) => QuireClient;
}

/** Creates the monotonic workload. */
export function monotonicWorkload(o: MonotonicWorkloadOptions): Workload {
  /** The value each process last read of each counter (null: absent or never read). */
  const seen = new Map<string, string | null>();
  const storeKey = (key: number): string => `${o.prefix}/${key}`;
  const pickKey = keyRotation(o.counters, o.opsPerKeyMax, o.rng);
  return {
    name: 'monotonic',
    next(process) {
      const client = o.clientFor(process);
      const key = pickKey();
      const memo = `${process}/${key}`;
      if (!seen.has(memo) || o.rng.next() < 0.5) {
        return {
          f: 'read',
          key,
          value: null,
          run: async () => {
            try {
              const r = await client.get(storeKey(key));
              const value = r.found ? r.value.toString() : null;
              seen.set(memo, value);
              return { type: 'ok', value };
            } catch (err) {
              return { type: 'fail', value: null, error: errorLabel(err) };
            }
          },
        };
      }
      const last = seen.get(memo) ?? null;
      const next = String((last === null ? 0 : Number(last)) + 1);
      return {
        f: 'cas',
        key,
        value: [last, next],
        run: async () => {
          const outcome = await casRegister(client, storeKey(key), last, next);
          if (outcome.type === 'ok') seen.set(memo, next);
          else seen.delete(memo); // read again before the next increment
          return outcome;
        },
      };
    },
  };
}
