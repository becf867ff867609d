/**
 * Zones (issue 16, item 2): data nodes started with --zone (quire dev --zones, round robin) and
 * placement that puts each partition's replicas in distinct zones, on a real cluster of six data
 * nodes in three zones.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestCluster, type TestCluster } from './harness/test-cluster.js';
import { runCli } from './harness/cli.js';

describe('zones', () => {
  let t: TestCluster;
  let zoneOf: Map<string, string>;
  beforeAll(async () => {
    // Neighbours share a zone, so a placement blind to zones (the least loaded nodes by id:
    // node-1, node-2, node-3 first) would put two replicas in zone a.
    t = await startTestCluster('zones', { nodes: 6, zones: ['a', 'a', 'b', 'b', 'c', 'c'], replicationFactor: 3, partitions: 12 });
    zoneOf = new Map((await t.client.clusterStatus()).nodes.map((n) => [n.nodeId, n.zone]));
  });
  afterAll(async () => {
    await t?.stop();
  });

  it('registers each data node with the zone it was given (round robin over the list), and quire status shows it', async () => {
    expect(Object.fromEntries(zoneOf)).toEqual({ 'node-1': 'a', 'node-2': 'a', 'node-3': 'b', 'node-4': 'b', 'node-5': 'c', 'node-6': 'c' });
    const status = await runCli(['status'], { QUIRE_ROUTER: t.cluster.routerAddress });
    expect(status.stdout).toMatch(/^NODE\s+ADDRESS\s+LIVE\s+REPLICAS\s+LEADERS\s+METRICS\s+ZONE\s+DRAIN$/m);
    expect(status.stdout).toMatch(/^node-5\s.*\sc\s+-$/m);
  });

  it('puts the three replicas of every partition in three zones, with replicas and leaders within one per node', async () => {
    const map = await t.client.partitionMap();
    for (const p of map.partitions) expect(p.replicas.map((r) => zoneOf.get(r)).sort()).toEqual(['a', 'b', 'c']);
    const nodes = (await t.client.clusterStatus()).nodes;
    const replicas = nodes.map((n) => n.replicaCount);
    const leaders = nodes.map((n) => n.leaderCount);
    expect(replicas.reduce((a, b) => a + b, 0)).toBe(36);
    expect(Math.max(...replicas) - Math.min(...replicas)).toBeLessThanOrEqual(1);
    expect(Math.max(...leaders) - Math.min(...leaders)).toBeLessThanOrEqual(1);
  });

  it('spreads a created keyspace of replication 2 over two zones per partition', async () => {
    const map = await t.client.createKeyspace('pairs', { partitions: 9, replicationFactor: 2 });
    for (const p of map.partitions) expect(new Set(p.replicas.map((r) => zoneOf.get(r))).size).toBe(2);
  });
});
