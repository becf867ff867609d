/**
 * What the replication tests ask a running cluster about its partitions: the partition map
 * from the cluster status, whether every partition is fully in sync, one replica's log end
 * (Replication.GetLogEnd, straight to the data node), a key of each partition, and a digest of
 * every replica's contents read through the public API (replicaDigests).
 */
import { createHash } from 'node:crypto';
import { Metadata } from '@grpc/grpc-js';
import { ReplicationClient, type GetLogEndResponse, type PartitionInfo } from '@quire/proto';
import { clientCredentials, grpcClientOptions, loadHashPartitioner } from '@quire/common';
import { eventually, type TestCluster } from './test-cluster.js';

/** The partitions of a keyspace (`default` unless named), as the cluster status reports them. */
export async function partitionInfos(t: TestCluster, keyspace = 'default'): Promise<PartitionInfo[]> {
  const status = await t.client.clusterStatus();
  return status.keyspaces.find((k) => k.keyspace === keyspace)?.partitions ?? [];
}

/** Whether all `partitions` partitions have `replicas` replicas in their ISR and a live leader. */
export async function fullyInSync(t: TestCluster, partitions: number, replicas = 3): Promise<boolean> {
  const ps = await partitionInfos(t);
  return ps.length === partitions && ps.every((p) => p.isr.length === replicas && p.leaderLive);
}

/** One replica's log end and indexes, asked of its data node at `address`. */
export async function getLogEnd(address: string, partitionId: number, keyspace = 'default'): Promise<GetLogEndResponse> {
  const client = new ReplicationClient(address, clientCredentials(), grpcClientOptions);
  try {
    return await new Promise<GetLogEndResponse>((resolve, reject) =>
      client.getLogEnd({ keyspace, partitionId }, new Metadata(), { deadline: Date.now() + 5_000 }, (err, res) => (err ? reject(err) : resolve(res))),
    );
  } finally {
    client.close();
  }
}

/** The registered address of every data node, by node id. */
export async function nodeAddresses(t: TestCluster): Promise<Map<string, string>> {
  const status = await t.client.clusterStatus();
  return new Map(status.nodes.map((n) => [n.nodeId, n.address]));
}

/** One replica's state as its node reports it (Replication.GetLogEnd). */
export interface ReplicaState {
  readonly partitionId: number;
  readonly nodeId: string;
  readonly leader: boolean;
  readonly state: GetLogEndResponse;
}

/** Every replica of every partition of the default keyspace (only the leaders with `leadersOnly`). */
export async function replicaStates(t: TestCluster, leadersOnly = false): Promise<ReplicaState[]> {
  const nodes = await nodeAddresses(t);
  const out: ReplicaState[] = [];
  for (const p of await partitionInfos(t)) {
    for (const nodeId of leadersOnly ? [p.leader] : p.replicas) {
      const address = nodes.get(nodeId);
      if (address === undefined || address === '') throw new Error(`Node ${nodeId} is not registered`);
      out.push({ partitionId: p.partitionId, nodeId, leader: p.leader === nodeId, state: await getLogEnd(address, p.partitionId) });
    }
  }
  return out;
}

/** The states once every replica reports its leader's log end as its log end, durable and applied index; undefined until then. */
export async function converged(t: TestCluster): Promise<ReplicaState[] | undefined> {
  const states = await replicaStates(t);
  for (const s of states) {
    const leader = states.find((l) => l.partitionId === s.partitionId && l.leader);
    if (leader === undefined) return undefined;
    const end = leader.state.logEnd;
    if (s.state.logEnd?.index !== end?.index || s.state.logEnd?.epoch !== end?.epoch || s.state.durableIndex !== end?.index || s.state.appliedIndex !== end?.index) return undefined;
  }
  return states;
}

/** One key of each of `partitions` partitions (`${prefix}-${i}`), indexed by partition id. */
export async function keysByPartition(prefix: string, partitions: number): Promise<string[]> {
  const partitioner = await loadHashPartitioner();
  const keys: string[] = [];
  for (let i = 0, found = 0; found < partitions; i++) {
    const key = `${prefix}-${i}`;
    const p = partitioner.partitionOf(Buffer.from(key), partitions);
    if (keys[p] === undefined) {
      keys[p] = key;
      found++;
    }
  }
  return keys;
}

/** One replica's contents of one partition: how many keys, and a SHA-256 over every (key, version, value) in key order. */
export interface PartitionDigest {
  readonly keys: number;
  readonly sha256: string;
}

/**
 * Reads every replica's contents through the public API only: for each node in turn, makes it
 * the leader of every partition (Admin.TransferLeader, which waits until it holds the whole
 * log), then scans the keyspace through the router, so each partition's part of the scan comes
 * from that node's data. Returns, per node id, the digest of each partition (indexed by id).
 * Needs every partition fully in sync and no writes running; the leaderships end on the last node.
 */
export async function replicaDigests(t: TestCluster, partitions: number, nodeIds: readonly string[]): Promise<Map<string, PartitionDigest[]>> {
  const partitioner = await loadHashPartitioner();
  const out = new Map<string, PartitionDigest[]>();
  for (const nodeId of nodeIds) {
    for (let partitionId = 0; partitionId < partitions; partitionId++) {
      await eventually(`${nodeId} to lead partition ${partitionId}`, 30_000, async () => {
        const info = (await partitionInfos(t)).find((p) => p.partitionId === partitionId);
        if (info?.leader === nodeId) return true;
        await t.client.transferLeader(partitionId, { to: nodeId });
        return false;
      });
    }
    const digests = await eventually(`a scan served by ${nodeId}`, 30_000, async () => {
      const hashes = Array.from({ length: partitions }, () => createHash('sha256'));
      const counts = new Array<number>(partitions).fill(0);
      for await (const e of t.client.scan()) {
        const p = partitioner.partitionOf(e.key, partitions);
        const version = Buffer.alloc(8);
        version.writeBigUInt64BE(BigInt(e.version));
        const lengths = Buffer.alloc(8);
        lengths.writeUInt32BE(e.key.length, 0);
        lengths.writeUInt32BE(e.value.length, 4);
        (hashes[p] as ReturnType<typeof createHash>).update(lengths).update(e.key).update(version).update(e.value);
        counts[p] = (counts[p] as number) + 1;
      }
      // Every partition must still be led by this node, or part of the scan came from another replica.
      const infos = await partitionInfos(t);
      if (!infos.every((p) => p.leader === nodeId)) return undefined;
      return hashes.map((h, i) => ({ keys: counts[i] as number, sha256: h.digest('hex') }));
    });
    out.set(nodeId, digests);
  }
  return out;
}
