/**
 * What the replication tests ask a running cluster about its partitions: the partition map
 * from the cluster status, whether every partition is fully in sync, one replica's log end
 * (Replication.GetLogEnd, straight to the data node), and a key of each partition.
 */
import { Metadata } from '@grpc/grpc-js';
import { ReplicationClient, type GetLogEndResponse, type PartitionInfo } from '@quire/proto';
import { clientCredentials, grpcClientOptions, loadHashPartitioner } from '@quire/common';
import type { TestCluster } from './test-cluster.js';

/** The partitions of the `default` keyspace, as the cluster status reports them. */
export async function partitionInfos(t: TestCluster): Promise<PartitionInfo[]> {
  const status = await t.client.clusterStatus();
  return status.keyspaces.find((k) => k.keyspace === 'default')?.partitions ?? [];
}

/** Whether all `partitions` partitions have `replicas` replicas in their ISR and a live leader. */
export async function fullyInSync(t: TestCluster, partitions: number, replicas = 3): Promise<boolean> {
  const ps = await partitionInfos(t);
  return ps.length === partitions && ps.every((p) => p.isr.length === replicas && p.leaderLive);
}

/** One replica's log end and indexes, asked of its data node at `address`. */
export async function getLogEnd(address: string, partitionId: number): Promise<GetLogEndResponse> {
  const client = new ReplicationClient(address, clientCredentials(), grpcClientOptions);
  try {
    return await new Promise<GetLogEndResponse>((resolve, reject) =>
      client.getLogEnd({ keyspace: 'default', partitionId }, new Metadata(), { deadline: Date.now() + 5_000 }, (err, res) => (err ? reject(err) : resolve(res))),
    );
  } finally {
    client.close();
  }
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
