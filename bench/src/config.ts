/**
 * Benchmark options: flags, then QUIRE_BENCH_* environment variables, then defaults. The
 * defaults are the workload of docs/benchmarks.md: 16-byte keys, 100-byte values, 64 requests
 * in flight, 3 data nodes, and etcd (one member) as the peer in the same run.
 */
import { parseOptions, type Env, type OptionValues } from '@quire/common';

/** The benchmark's options. */
export const benchOptions = {
  rounds: { kind: 'integer', flag: 'rounds', env: 'QUIRE_BENCH_ROUNDS', description: 'Rounds of every phase; figures are medians over rounds', default: 3, min: 1, max: 50 },
  durationSeconds: { kind: 'integer', flag: 'duration-seconds', env: 'QUIRE_BENCH_DURATION_SECONDS', description: 'Measured seconds per phase and round', default: 10, min: 1, max: 3_600 },
  warmupSeconds: { kind: 'integer', flag: 'warmup-seconds', env: 'QUIRE_BENCH_WARMUP_SECONDS', description: 'Unmeasured warm-up seconds before each phase', default: 2, min: 0, max: 600 },
  inFlight: { kind: 'integer', flag: 'in-flight', env: 'QUIRE_BENCH_IN_FLIGHT', description: 'Requests in flight (closed loop)', default: 64, min: 1, max: 4_096 },
  keys: { kind: 'integer', flag: 'keys', env: 'QUIRE_BENCH_KEYS', description: 'Distinct keys, loaded before the first round', default: 20_000, min: 1, max: 10_000_000 },
  valueBytes: { kind: 'integer', flag: 'value-bytes', env: 'QUIRE_BENCH_VALUE_BYTES', description: 'Value size in bytes', default: 100, min: 0, max: 1_048_576 },
  nodes: { kind: 'integer', flag: 'nodes', env: 'QUIRE_BENCH_NODES', description: 'Quire data nodes', default: 3, min: 1, max: 16 },
  etcdBin: { kind: 'string', flag: 'etcd-bin', env: 'QUIRE_ETCD_BIN', description: 'The etcd server binary', default: 'etcd' },
  out: { kind: 'string', flag: 'out', env: 'QUIRE_BENCH_OUT', description: 'Directory for the JSON results', default: 'bench/results' },
  keepData: { kind: 'boolean', flag: 'keep-data', env: 'QUIRE_BENCH_KEEP_DATA', description: 'Keep the data directories of the run', default: false },
} as const;

/** Parsed benchmark options. */
export type BenchConfig = OptionValues<typeof benchOptions>;

/** Parses the benchmark's options. */
export function loadBenchConfig(argv: readonly string[], env: Env): Readonly<BenchConfig> {
  return Object.freeze(parseOptions(benchOptions, argv, env));
}
