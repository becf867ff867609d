/**
 * The etcd server as a child process: its command line (Debian's etcd-server 3.4+) and a
 * health wait. Used by LocalCluster for the cluster's metadata store, by the benchmarks for the
 * peer etcd measured beside Quire, and by the chaos harness for multi-member etcd clusters.
 */
import { type ManagedProcess } from './managed-process.js';

/** One etcd member: its name and host:port pairs. */
export interface EtcdMember {
  readonly name: string;
  /** host:port for clients. */
  readonly client: string;
  /** host:port for peers. */
  readonly peer: string;
}

/** Options of one etcd member's command line. */
export interface EtcdServerOptions {
  readonly member: EtcdMember;
  readonly dataDir: string;
  /** Every member of the cluster (defaults to just this one). */
  readonly cluster?: readonly EtcdMember[];
  /** Backend quota; etcd's default of 2 GiB is kept unless set. */
  readonly quotaBackendBytes?: number;
  /**
   * Raft heartbeat interval and election timeout (etcd's defaults, 100 and 1000 ms, unless
   * set). etcd grants no lease shorter than ⌈1.5 × election timeout⌉ seconds, so a 500 ms
   * election timeout is what allows 1 s node leases (fast failure detection).
   */
  readonly heartbeatIntervalMs?: number;
  readonly electionTimeoutMs?: number;
}

/**
 * Returns the etcd arguments for one member. Revision-based auto-compaction keeps the backend
 * from growing without bound under a steady write load (Quire's metadata or a benchmark).
 */
export function etcdServerArgs(options: EtcdServerOptions): string[] {
  const { member } = options;
  const cluster = options.cluster ?? [member];
  return [
    '--name', member.name,
    '--data-dir', options.dataDir,
    '--listen-client-urls', `http://${member.client}`,
    '--advertise-client-urls', `http://${member.client}`,
    '--listen-peer-urls', `http://${member.peer}`,
    '--initial-advertise-peer-urls', `http://${member.peer}`,
    '--initial-cluster', cluster.map((m) => `${m.name}=http://${m.peer}`).join(','),
    '--initial-cluster-state', 'new',
    '--auto-compaction-mode', 'revision',
    '--auto-compaction-retention', '10000',
    '--quota-backend-bytes', String(options.quotaBackendBytes ?? 2 * 1024 * 1024 * 1024),
    ...(options.heartbeatIntervalMs === undefined ? [] : ['--heartbeat-interval', String(options.heartbeatIntervalMs)]),
    ...(options.electionTimeoutMs === undefined ? [] : ['--election-timeout', String(options.electionTimeoutMs)]),
  ];
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Polls etcd's /health on `clientAddress` until it reports healthy; fails early if `process` exits. */
export async function waitForEtcdHealthy(clientAddress: string, process: ManagedProcess, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (!process.running) throw new Error(`etcd exited while starting; its log ends with:\n${process.logTail()}`);
    try {
      const res = await fetch(`http://${clientAddress}/health`, { signal: AbortSignal.timeout(1_000) });
      if (res.ok && ((await res.json()) as { health?: string }).health === 'true') return;
    } catch {
      // Not up yet: connection refused or no leader.
    }
    await sleep(100);
  }
  throw new Error(`etcd did not become healthy within ${timeoutMs} ms; see ${process.spec.logPath}`);
}
