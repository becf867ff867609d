/**
 * When is a cluster ready? Every data node is live, every partition of every keyspace has a
 * live leader, and a read routed to each partition through every router succeeds. Shared by
 * `quire dev`, the benchmarks and the chaos harness.
 */
import { loadHashPartitioner } from '@quire/common';
import { PartitionScheme, QuireClient } from '@quire/client';
import { type ManagedProcess } from './managed-process.js';

/** What waitForClusterReady watches. */
export interface ReadinessOptions {
  /** host:port of every router; each must reach every partition. */
  readonly routers: readonly string[];
  /** Data nodes that must be live. */
  readonly nodes: number;
  /** The cluster's processes: one that exits while starting (and is not about to be restarted) fails the wait at once. */
  readonly processes: readonly ManagedProcess[];
  readonly timeoutMs: number;
  /** Progress lines, one per change of state. */
  readonly progress?: (message: string) => void;
  /** Where the logs are, for the timeout message. */
  readonly logDir?: string;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Resolves once the cluster serves every partition; rejects on timeout or a dead process. */
export async function waitForClusterReady(options: ReadinessOptions): Promise<void> {
  const progress = options.progress ?? (() => undefined);
  // One client per router: a client spread over several would hide a router that fails.
  const clients = options.routers.map((router) => ({ router, client: new QuireClient({ router, requestTimeoutMs: 5_000, connectTimeoutMs: 1_000 }) }));
  const [first] = clients;
  if (first === undefined) throw new Error('waitForClusterReady needs at least one router');
  const client = first.client;
  const deadline = Date.now() + options.timeoutMs;
  let last = '';
  try {
    for (;;) {
      for (const p of options.processes) {
        if (!p.running && !p.restartPending && p.spec.role !== 'etcd') {
          // A process that stopped during start-up will not come back by itself.
          throw new Error(`${p.id} exited while the cluster was starting; its log ends with:\n${p.logTail()}`);
        }
      }
      let status = '';
      try {
        const s = await client.clusterStatus();
        const live = s.nodes.filter((n) => n.live).length;
        const partitions = s.keyspaces.flatMap((k) => k.partitions);
        const ready = partitions.filter((p) => p.leaderLive).length;
        status = `data nodes live ${live}/${options.nodes}, partitions with a live leader ${ready}/${partitions.length}`;
        if (live >= options.nodes && partitions.length > 0 && ready === partitions.length) {
          const keyspaces = s.keyspaces.map((k) => ({ name: k.keyspace, partitions: k.partitionCount, ...(k.scheme === PartitionScheme.PARTITION_SCHEME_RANGE ? { rangeStarts: k.partitions.map((p) => p.startKey) } : {}) }));
          for (const c of clients) {
            try {
              await probeAllPartitions(c.client, keyspaces);
            } catch (err) {
              throw new Error(`router ${c.router} cannot reach every partition yet: ${(err as Error).message}`, { cause: err });
            }
          }
          progress(`Cluster ready: ${status}`);
          return;
        }
      } catch (err) {
        status = `waiting for the router and coordinator (${(err as Error).message})`;
      }
      if (status !== last) progress(status);
      last = status;
      if (Date.now() > deadline) {
        throw new Error(`The cluster was not ready within ${options.timeoutMs} ms: ${status}${options.logDir === undefined ? '' : `; logs are in ${options.logDir}`}`);
      }
      await sleep(200);
    }
  } finally {
    for (const c of clients) c.client.close();
  }
}

/**
 * Reads one key routed to each partition, proving router → data node paths work: a hash
 * keyspace's by hashing probe keys, a range keyspace's at each partition's start key (0x00 for the
 * first, whose start is the empty key).
 */
async function probeAllPartitions(client: QuireClient, keyspaces: readonly { name: string; partitions: number; rangeStarts?: readonly Uint8Array[] }[]): Promise<void> {
  const partitioner = await loadHashPartitioner();
  for (const ks of keyspaces) {
    if (ks.rangeStarts !== undefined) {
      await Promise.all(ks.rangeStarts.map((start) => client.get(start.length === 0 ? Buffer.from([0]) : start, { keyspace: ks.name })));
      continue;
    }
    const covered = new Map<number, string>();
    for (let i = 0; covered.size < ks.partitions && i < ks.partitions * 1000; i++) {
      const key = `quire-probe-${i}`;
      const p = partitioner.partitionOf(Buffer.from(key), ks.partitions);
      if (!covered.has(p)) covered.set(p, key);
    }
    await Promise.all([...covered.values()].map((key) => client.get(key, { keyspace: ks.name })));
  }
}
