import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestCluster, type TestCluster } from './harness/test-cluster.js';

async function scrape(address: string): Promise<string> {
  const res = await fetch(`http://${address}/metrics`);
  expect(res.status).toBe(200);
  return res.text();
}

describe('every process exposes Prometheus metrics on its /metrics port', () => {
  let t: TestCluster;
  beforeAll(async () => {
    t = await startTestCluster('metrics', { nodes: 1, partitions: 4 });
    for (let i = 0; i < 20; i++) await t.client.put(`m${i}`, 'x');
    await t.client.get('m1');
    await t.client.clusterStatus();
  });
  afterAll(async () => {
    await t?.stop();
  });

  it('reports request counts and latency histograms per RPC and group-commit batch sizes', async () => {
    const router = await scrape(t.cluster.process('router-1').spec.metricsAddress ?? '');
    expect(router).toMatch(/quire_router_kv_requests_total\{[^}]*method="put"[^}]*code="OK"[^}]*\} 2\d/);
    expect(router).toMatch(/quire_router_kv_duration_ms_bucket\{[^}]*method="get"/);
    expect(router).toMatch(/quire_router_map_revision \d+/);
    // The Admin proxy too (clusterStatus was called once through this router, plus readiness polls).
    expect(router).toMatch(/quire_router_admin_requests_total\{[^}]*method="ClusterStatus"[^}]*code="OK"[^}]*\} [1-9]/);
    const node = await scrape(t.cluster.process('node-1').spec.metricsAddress ?? '');
    expect(node).toMatch(/quire_datanode_kv_requests_total\{[^}]*method="put"[^}]*\} 2\d/);
    expect(node).toMatch(/quire_datanode_commit_batch_ops_count \d+/);
    expect(node).toMatch(/quire_datanode_commit_duration_ms_bucket/);
    const coordinator = await scrape(t.cluster.process('coordinator-1').spec.metricsAddress ?? '');
    expect(coordinator).toMatch(/quire_coordinator_is_leader 1/);
    expect(coordinator).toMatch(/quire_coordinator_partition_assignments_total 4/);
  });
});

describe('replication metrics per partition', () => {
  let t: TestCluster;
  beforeAll(async () => {
    t = await startTestCluster('metrics-replicated', { nodes: 3, partitions: 4, replicationFactor: 3 });
    for (let i = 0; i < 40; i++) await t.client.put(`r${i}`, 'x');
  });
  afterAll(async () => {
    await t?.stop();
  });

  it('reports each led partition\'s ISR size and each follower\'s lag in entries and ms', async () => {
    const status = await t.client.clusterStatus();
    const ks = status.keyspaces.find((k) => k.keyspace === 'default');
    const leaders = new Set(ks?.partitions.map((p) => p.leader));
    let partitions = 0;
    for (const nodeId of leaders) {
      const node = await scrape(t.cluster.process(nodeId).spec.metricsAddress ?? '');
      for (const p of ks?.partitions.filter((x) => x.leader === nodeId) ?? []) {
        partitions++;
        expect(node).toMatch(new RegExp(`quire_datanode_isr_size\\{[^}]*keyspace="default"[^}]*partition="${p.partitionId}"[^}]*\\} 3`));
        for (const follower of p.replicas.filter((r) => r !== nodeId)) {
          expect(node).toMatch(new RegExp(`quire_datanode_replication_lag_entries\\{[^}]*partition="${p.partitionId}"[^}]*follower="${follower}"[^}]*\\} \\d+`));
          expect(node).toMatch(new RegExp(`quire_datanode_replication_lag_ms\\{[^}]*partition="${p.partitionId}"[^}]*follower="${follower}"[^}]*\\} \\d+`));
        }
      }
    }
    expect(partitions).toBe(4);
  });

  // Last in this file: it stops a data node.
  it('counts partitions whose ISR is below the replication factor in quire_coordinator_under_replicated_partitions', async () => {
    const coordinator = t.cluster.process('coordinator-1').spec.metricsAddress ?? '';
    const gauge = async (): Promise<number | undefined> => {
      const m = /quire_coordinator_under_replicated_partitions\{[^}]*keyspace="default"[^}]*\} (\d+)/.exec(await scrape(coordinator));
      return m === null ? undefined : Number(m[1]);
    };
    expect(await gauge()).toBe(0);
    t.cluster.process('node-3').kill('SIGKILL');
    // Its leaders drop it from their ISRs at once (broken streams); its own partitions fail over
    // without it after its 3 s lease. Every partition then has two of three in sync.
    const deadline = Date.now() + 15_000;
    let seen = await gauge();
    while (seen !== 4 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 200));
      seen = await gauge();
    }
    expect(seen).toBe(4);
  });
});
