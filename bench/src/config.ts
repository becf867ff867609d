/**
 * Benchmark options: flags, then QUIRE_BENCH_* environment variables, then defaults. The
 * defaults are the workload of docs/benchmarks.md: 16-byte keys, 100-byte values, 64 requests
 * in flight, 3 data nodes, and etcd (one member) as the peer in the same run. With
 * `--replication N` the default keyspace has N replicas per partition and the peer etcd is a
 * cluster of N members (unless `--etcd-members` says otherwise), so both sides replicate.
 * `--cpu-rate R` adds a phase per round that drives puts at R per second and reports the CPU
 * time each system's processes (and the client library) spent per put.
 */
import { ConfigError, parseOptions, type Env, type OptionValues } from '@quire/common';

/** The benchmark's options. */
export const benchOptions = {
  rounds: { kind: 'integer', flag: 'rounds', env: 'QUIRE_BENCH_ROUNDS', description: 'Rounds of every phase; figures are medians over rounds', default: 3, min: 1, max: 50 },
  durationSeconds: { kind: 'integer', flag: 'duration-seconds', env: 'QUIRE_BENCH_DURATION_SECONDS', description: 'Measured seconds per phase and round', default: 10, min: 1, max: 3_600 },
  warmupSeconds: { kind: 'integer', flag: 'warmup-seconds', env: 'QUIRE_BENCH_WARMUP_SECONDS', description: 'Unmeasured warm-up seconds before each phase', default: 2, min: 0, max: 600 },
  inFlight: { kind: 'integer', flag: 'in-flight', env: 'QUIRE_BENCH_IN_FLIGHT', description: 'Requests in flight (closed loop)', default: 64, min: 1, max: 4_096 },
  keys: { kind: 'integer', flag: 'keys', env: 'QUIRE_BENCH_KEYS', description: 'Distinct keys, loaded before the first round', default: 20_000, min: 1, max: 10_000_000 },
  valueBytes: { kind: 'integer', flag: 'value-bytes', env: 'QUIRE_BENCH_VALUE_BYTES', description: 'Value size in bytes', default: 100, min: 0, max: 1_048_576 },
  nodes: { kind: 'integer', flag: 'nodes', env: 'QUIRE_BENCH_NODES', description: 'Quire data nodes', default: 3, min: 1, max: 16 },
  replication: { kind: 'integer', flag: 'replication', env: 'QUIRE_BENCH_REPLICATION', description: 'Replication factor of the Quire keyspace (at most --nodes)', default: 1, min: 1, max: 5 },
  etcdMembers: { kind: 'integer', flag: 'etcd-members', env: 'QUIRE_BENCH_ETCD_MEMBERS', description: 'Members of the peer etcd cluster: 1, 3 or 5 (default: --replication)', min: 1, max: 5 },
  cpuRate: {
    kind: 'integer',
    flag: 'cpu-rate',
    env: 'QUIRE_BENCH_CPU_RATE',
    description: 'Puts per second of the fixed-rate phase that measures the CPU each system spends per put (its processes and the client); 0 skips it',
    default: 2_000,
    min: 0,
    max: 100_000,
  },
  storageEngine: { kind: 'string', flag: 'storage-engine', env: 'QUIRE_BENCH_STORAGE_ENGINE', description: "The data nodes' storage engine (datanode --storage-engine)", default: 'wal', choices: ['wal', 'lmdb'] },
  datanodeFlags: { kind: 'string', flag: 'datanode-flags', env: 'QUIRE_BENCH_DATANODE_FLAGS', description: 'Further data node flags, space-separated; write --datanode-flags="--commit-linger-us 1000" (with =) since the value starts with --', default: '' },
  etcdBin: { kind: 'string', flag: 'etcd-bin', env: 'QUIRE_ETCD_BIN', description: 'The etcd server binary', default: 'etcd' },
  out: { kind: 'string', flag: 'out', env: 'QUIRE_BENCH_OUT', description: 'Directory for the JSON results', default: 'bench/results' },
  keepData: { kind: 'boolean', flag: 'keep-data', env: 'QUIRE_BENCH_KEEP_DATA', description: 'Keep the data directories of the run', default: false },
} as const;

/** Peer etcd cluster sizes the benchmark starts (odd, so a majority is well defined). */
export const etcdMemberCounts: readonly number[] = [1, 3, 5];

/** Parsed benchmark options, with the etcd member count resolved. */
export type BenchConfig = OptionValues<typeof benchOptions> & { readonly etcdMembers: number };

/** Parses the benchmark's options and checks the ones that depend on each other. */
export function loadBenchConfig(argv: readonly string[], env: Env): Readonly<BenchConfig> {
  const parsed = parseOptions(benchOptions, argv, env);
  if (parsed.replication > parsed.nodes) {
    throw new ConfigError(`--replication (or $${benchOptions.replication.env}) is ${parsed.replication}; it must be at most --nodes (${parsed.nodes})`);
  }
  const etcdMembers = parsed.etcdMembers ?? parsed.replication;
  if (!etcdMemberCounts.includes(etcdMembers)) {
    const source = parsed.etcdMembers === undefined ? `--replication ${parsed.replication} makes the default --etcd-members ${etcdMembers}` : `--etcd-members (or $${benchOptions.etcdMembers.env}) is ${etcdMembers}`;
    throw new ConfigError(`${source}; the peer etcd cluster must have 1, 3 or 5 members${parsed.etcdMembers === undefined ? ' (set --etcd-members)' : ''}`);
  }
  return Object.freeze({ ...parsed, etcdMembers });
}

/** True for the configuration of the original issue-2 benchmark (one replica, one etcd member). */
export function isSingleCopy(config: Pick<BenchConfig, 'replication' | 'etcdMembers'>): boolean {
  return config.replication === 1 && config.etcdMembers === 1;
}

/** How the report names each system: plain for the default run, with the configuration otherwise. */
export function systemLabels(config: Pick<BenchConfig, 'replication' | 'etcdMembers'>): { readonly quire: string; readonly etcd: string } {
  if (isSingleCopy(config)) return { quire: 'Quire', etcd: 'etcd' };
  return {
    quire: `Quire (replication ${config.replication}, sync)`,
    etcd: `etcd (${config.etcdMembers} ${config.etcdMembers === 1 ? 'member' : 'members'})`,
  };
}
