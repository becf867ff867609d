import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isQuireError, loadHashPartitioner } from '@quire/common';
import { startTestCluster, eventually, type TestCluster } from './harness/test-cluster.js';

describe('the router and coordinators survive restarts of etcd, data nodes and coordinators', () => {
  let t: TestCluster;
  /** One key per partition, and which node leads it. */
  let keysByNode: Map<string, string[]>;

  beforeAll(async () => {
    t = await startTestCluster('availability', { coordinators: 2 });
    const partitioner = await loadHashPartitioner();
    const map = await t.client.partitionMap();
    keysByNode = new Map();
    const seen = new Set<number>();
    for (let i = 0; seen.size < map.partitionCount; i++) {
      const key = `avail-${i}`;
      const p = partitioner.partitionOf(Buffer.from(key), map.partitionCount);
      if (seen.has(p)) continue;
      seen.add(p);
      const leader = map.partitions[p]?.leader ?? '';
      keysByNode.set(leader, [...(keysByNode.get(leader) ?? []), key]);
    }
  });
  afterAll(async () => {
    await t?.stop();
  });

  const allKeys = (): string[] => [...keysByNode.values()].flat();

  it('keeps serving reads and writes while etcd is down, and follows metadata changes after etcd returns', async () => {
    const etcd = t.cluster.process('etcd');
    await etcd.stop(10_000);
    // With etcd gone, the router and data nodes work from the map they have.
    for (const key of allKeys()) await t.client.put(key, 'during-etcd-outage');
    for (const key of allKeys()) expect((await t.client.get(key)).value.toString()).toBe('during-etcd-outage');
    etcd.start();
    await t.cluster.waitForEtcd(30_000);
    await t.cluster.waitReady(60_000);
    // Prove the router re-watched etcd: kill node-3 without a goodbye. Its lease expires, the
    // router learns it from the watch, and fails its partitions fast as unavailable.
    const node3 = t.cluster.process('node-3');
    node3.kill('SIGKILL');
    await node3.exited;
    const key = (keysByNode.get('node-3') ?? [])[0] ?? '';
    const err = await eventually('the router to see node-3 go', 20_000, async () => {
      const e = await t.client.get(key).catch((x: unknown) => x);
      return isQuireError(e, 'PARTITION_UNAVAILABLE') ? e : undefined;
    });
    expect(err.message).toContain('node-3');
    node3.start();
    await t.cluster.waitReady(60_000);
    expect((await t.client.get(key)).value.toString()).toBe('during-etcd-outage');
  });

  it('reconnects to a data node after a graceful restart and after kill -9', async () => {
    const node1 = t.cluster.process('node-1');
    const keys = keysByNode.get('node-1') ?? [];
    expect(keys.length).toBeGreaterThan(0);
    await node1.stop(10_000);
    node1.start();
    await t.cluster.waitReady(60_000);
    for (const key of keys) await t.client.put(key, 'after-graceful-restart');
    node1.kill('SIGKILL');
    await node1.exited;
    node1.start();
    await t.cluster.waitReady(60_000);
    for (const key of keys) expect((await t.client.get(key)).value.toString()).toBe('after-graceful-restart');
  });

  it('elects the standby coordinator when the leader is killed, and admin calls keep working', async () => {
    const before = await t.client.clusterStatus();
    const leaderId = before.coordinator?.coordinatorId ?? '';
    expect(['coordinator-1', 'coordinator-2']).toContain(leaderId);
    const leader = t.cluster.process(leaderId);
    leader.kill('SIGKILL');
    await leader.exited;
    const after = await eventually('a new coordinator leader', 30_000, async () => {
      const s = await t.client.clusterStatus();
      return s.coordinator !== undefined && s.coordinator.coordinatorId !== leaderId ? s : undefined;
    });
    expect(after.coordinator?.term).toBeGreaterThan(before.coordinator?.term ?? 0);
    // Data operations never depended on the coordinator.
    for (const key of allKeys()) await t.client.put(key, 'after-coordinator-failover');
    leader.start();
    await t.cluster.waitReady(60_000);
  });
});
