/**
 * Replication with replication factor 3 and `sync` (RFC 0001), on real processes: three data
 * nodes each holding a replica of every partition, leader-to-follower streams over real gRPC,
 * real LMDB logs. What these tests prove:
 *  - every acknowledged write reaches every replica's log in the leader's order, and every
 *    replica applies it (log ends, durable and applied indexes agree once the load stops);
 *  - a follower killed with kill -9 catches up from the leader's log after its restart.
 * Failover, ISR changes and lost nodes are failover.int.test.ts.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { converged } from './harness/partitions.js';
import { startTestCluster, eventually, type TestCluster } from './harness/test-cluster.js';
import { startUniqueWrites, verifyAcknowledged } from './workloads/unique-writes.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('replication factor 3 with sync acknowledgement', () => {
  let t: TestCluster;
  beforeAll(async () => {
    t = await startTestCluster('replication', { replicationFactor: 3, partitions: 8 });
  });
  afterAll(async () => {
    await t?.stop();
  });

  it('places every partition on all three nodes, with leaders spread and the whole replica set in sync', async () => {
    const status = await t.client.clusterStatus();
    const ks = status.keyspaces.find((k) => k.keyspace === 'default');
    expect(ks?.replicationFactor).toBe(3);
    const leaders = new Map<string, number>();
    for (const p of ks?.partitions ?? []) {
      expect([...p.replicas].sort()).toEqual(['node-1', 'node-2', 'node-3']);
      expect([...p.isr].sort()).toEqual(['node-1', 'node-2', 'node-3']);
      leaders.set(p.leader, (leaders.get(p.leader) ?? 0) + 1);
    }
    expect(Math.max(...leaders.values()) - Math.min(...leaders.values())).toBeLessThanOrEqual(1);
  });

  it('copies every acknowledged write to every replica in the leader order, and every replica applies it', async () => {
    const load = startUniqueWrites(t.client, 'copy', 64);
    await eventually('writes to be acknowledged', 60_000, async () => load.acknowledgedCount() > 4_000);
    const result = await load.stop();
    const states = await eventually('every replica to hold and apply the leader log', 30_000, () => converged(t));
    const lost = await verifyAcknowledged(t.client, result);
    const entries = states.filter((s) => s.leader).reduce((n, s) => n + (s.state.logEnd?.index ?? 0), 0);
    console.log(
      `replication copy: acknowledged ${result.acknowledged.size}, ambiguous ${result.ambiguous.size}, failed ${result.failed}, lost ${lost.length}; ` +
        `${states.length} replicas of ${states.length / 3} partitions agree on ${entries} log entries`,
    );
    expect(result.failed + result.ambiguous.size).toBe(0);
    expect(lost).toEqual([]);
  });

  it('a follower killed with kill -9 catches up from the leader log after its restart, losing nothing acknowledged', async () => {
    const before = startUniqueWrites(t.client, 'rejoin-before', 32);
    await eventually('writes to be acknowledged', 60_000, async () => before.acknowledgedCount() > 2_000);
    const beforeResult = await before.stop();
    const victim = t.cluster.process('node-2');
    victim.kill('SIGKILL');
    await victim.exited;
    await sleep(500);
    victim.start();
    await t.cluster.waitReady(60_000);
    const after = startUniqueWrites(t.client, 'rejoin-after', 32);
    await eventually('writes after the restart', 60_000, async () => after.acknowledgedCount() > 2_000);
    const afterResult = await after.stop();
    const states = await eventually('the restarted follower to catch up', 60_000, () => converged(t));
    const lost = [...(await verifyAcknowledged(t.client, beforeResult)), ...(await verifyAcknowledged(t.client, afterResult))];
    const restarted = states.filter((s) => s.nodeId === 'node-2');
    console.log(
      `follower rejoin: acknowledged ${beforeResult.acknowledged.size} before and ${afterResult.acknowledged.size} after the kill, lost ${lost.length}; ` +
        `node-2 log ends ${restarted.map((s) => s.state.logEnd?.index).join(',')}; faults injected 1 (kill -9 node-2)`,
    );
    expect(lost).toEqual([]);
  });
});
