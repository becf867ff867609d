/**
 * A write load of unique keys that records every outcome: acknowledged (with the version the
 * cluster returned), ambiguous (AMBIGUOUS_RESULT or a deadline after sending: may or may not
 * have been applied), or failed (definitely not applied). After a fault, verify() reads every
 * acknowledged key back and reports any that is missing or differs.
 */
import { isQuireError } from '@quire/common';
import type { QuireClient } from '@quire/client';

/** Outcome counts and the acknowledged writes. */
export interface WriteLoadResult {
  readonly acknowledged: Map<string, { value: string; version: number }>;
  readonly ambiguous: Set<string>;
  readonly failed: number;
  readonly failureCodes: Map<string, number>;
}

/** A running load. */
export interface WriteLoad {
  /** Acknowledged writes so far. */
  readonly acknowledgedCount: () => number;
  /** Stops the writers and resolves with what happened. */
  stop(): Promise<WriteLoadResult>;
}

/**
 * Starts `writers` concurrent writers, each writing `${prefix}/${writer}/${n}` in a loop; with
 * `accept`, keys it refuses are skipped (e.g. to write to some partitions only).
 */
export function startUniqueWrites(client: QuireClient, prefix: string, writers: number, accept?: (key: string) => boolean): WriteLoad {
  const acknowledged = new Map<string, { value: string; version: number }>();
  const ambiguous = new Set<string>();
  const failureCodes = new Map<string, number>();
  let failed = 0;
  let running = true;
  const loops = Array.from({ length: writers }, async (_, w) => {
    for (let n = 0; running; n++) {
      const key = `${prefix}/${w}/${n}`;
      if (accept !== undefined && !accept(key)) continue;
      const value = `value-${w}-${n}-${'x'.repeat(n % 50)}`;
      try {
        const { version } = await client.put(key, value);
        acknowledged.set(key, { value, version });
      } catch (err) {
        const code = isQuireError(err) ? err.code : 'UNTYPED';
        failureCodes.set(code, (failureCodes.get(code) ?? 0) + 1);
        if (code === 'AMBIGUOUS_RESULT') ambiguous.add(key);
        else failed++;
        // Do not spin while the partition is down.
        await new Promise((r) => setTimeout(r, 20));
      }
    }
  });
  return {
    acknowledgedCount: () => acknowledged.size,
    async stop() {
      running = false;
      await Promise.all(loops);
      return { acknowledged, ambiguous, failed, failureCodes };
    },
  };
}

/** Reads back every acknowledged write; returns the keys that are missing or wrong. */
export async function verifyAcknowledged(client: QuireClient, result: WriteLoadResult): Promise<string[]> {
  const lost: string[] = [];
  const entries = [...result.acknowledged];
  for (let i = 0; i < entries.length; i += 256) {
    await Promise.all(
      entries.slice(i, i + 256).map(async ([key, expected]) => {
        const got = await client.get(key);
        if (!got.found || got.value.toString() !== expected.value || got.version !== expected.version) lost.push(key);
      }),
    );
  }
  return lost;
}
