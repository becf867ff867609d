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
  /** The replica-move scenarios' scale (elasticity.chaos.test.ts). */
  readonly moves: MoveTier;
}

/** How big and how long the replica-move scenarios are in a tier. */
export interface MoveTier {
  /** Partitions of the default keyspace (replication 3). */
  readonly partitions: number;
  /** Keys written before the first membership change, so moves copy data that is there (snapshots), and their value size. */
  readonly preloadKeys: number;
  readonly preloadValueBytes: number;
  /** How many times a kill-in-a-move scenario repeats its fault (each round a new set of moves). */
  readonly rounds: number;
  /** Longest a cluster may take, after one step, to end its moves with every partition fully in sync; longer is a stuck move. */
  readonly settleTimeoutMs: number;
}

/** Reads the tier from the environment (default short). */
export function chaosTier(env: Readonly<Record<string, string | undefined>>): ChaosTier {
  const name = env.QUIRE_CHAOS_TIER ?? 'short';
  if (name === 'short') {
    return { name, workloadMs: 20_000, faultMs: 3_000, quietMs: 3_000, concurrency: 10, moves: { partitions: 8, preloadKeys: 0, preloadValueBytes: 0, rounds: 1, settleTimeoutMs: 120_000 } };
  }
  if (name === 'long') {
    return { name, workloadMs: 180_000, faultMs: 5_000, quietMs: 10_000, concurrency: 10, moves: { partitions: 16, preloadKeys: 20_000, preloadValueBytes: 1_024, rounds: 4, settleTimeoutMs: 300_000 } };
  }
  throw new Error(`QUIRE_CHAOS_TIER is "${name}"; expected short or long`);
}
