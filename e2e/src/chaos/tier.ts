/**
 * The chaos tiers: `short` runs in `make test` (a few minutes for the whole suite), `long` in
 * `make chaos` (the documented matrix duration). Chosen by QUIRE_CHAOS_TIER; every scenario
 * scales its workload and fault schedule from the tier, so both tiers run the same code.
 */

/** Durations and load of a tier. */
export interface ChaosTier {
  readonly name: 'short' | 'long';
  /** How long the workload runs with faults. */
  readonly workloadMs: number;
  /** How long each fault lasts. */
  readonly faultMs: number;
  /** Quiet time before each fault. */
  readonly quietMs: number;
  /** Logical clients. */
  readonly concurrency: number;
}

/** Reads the tier from the environment (default short). */
export function chaosTier(env: Readonly<Record<string, string | undefined>>): ChaosTier {
  const name = env.QUIRE_CHAOS_TIER ?? 'short';
  if (name === 'short') return { name, workloadMs: 20_000, faultMs: 3_000, quietMs: 3_000, concurrency: 10 };
  if (name === 'long') return { name, workloadMs: 180_000, faultMs: 5_000, quietMs: 10_000, concurrency: 10 };
  throw new Error(`QUIRE_CHAOS_TIER is "${name}"; expected short or long`);
}
