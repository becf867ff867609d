/**
 * Replica moves on real processes (RFC 0003): a cluster of three data nodes with replication 3
 * grows to four — the coordinator moves replicas onto the new node by itself, add before
 * remove — and then `quire drain` empties one of the old nodes, which is stopped and forgotten.
 * Under a write load the whole time; every acknowledged write is read back at the end. Also the
 * bad input of the drain commands, each refused with nothing changed.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ClusterStatusResponse } from '@quire/proto';
import { runCli } from './harness/cli.js';
import { logLines } from './harness/log-lines.js';
import { startTestCluster, eventually, type TestCluster } from './harness/test-cluster.js';
import { startUniqueWrites, verifyAcknowledged } from './workloads/unique-writes.js';

const partitions = 8;

/**
 * Replica counts of the live nodes, and whether every partition has 3 replicas, all in sync, no
 * move is in flight, and the live nodes lead within one partition of each other.
 */
function settled(s: ClusterStatusResponse): { counts: Map<string, number>; leaders: Map<string, number>; done: boolean } {
  const live = s.nodes.filter((n) => n.live);
  const counts = new Map(live.map((n) => [n.nodeId, n.replicaCount]));
  const leaders = new Map(live.map((n) => [n.nodeId, n.leaderCount]));
  const ks = s.keyspaces.find((k) => k.keyspace === 'default');
  const full = ks?.partitions.every((p) => p.replicas.length === 3 && p.isr.length === 3 && p.leaderLive) ?? false;
  const leadersEven = Math.max(...leaders.values()) - Math.min(...leaders.values()) <= 1;
  return { counts, leaders, done: full && s.moves.length === 0 && leadersEven };
}

describe('elasticity: nodes join and drain under load', () => {
  let t: TestCluster;
  let cliEnv: Record<string, string>;

  beforeAll(async () => {
    // Leaderships are balanced a second after they become uneven (30 s by default); a new replica
    // of a partition with any data is seeded by a snapshot (after 1 000 applied entries by default).
    t = await startTestCluster('elasticity', {
      nodes: 3,
      partitions,
      replicationFactor: 3,
      extraArgs: { coordinator: ['--leader-balance-delay-ms', '1000'], datanode: ['--new-replica-snapshot-entries', '1'] },
    });
    cliEnv = { QUIRE_ROUTER: t.cluster.routerAddress };
  }, 120_000);

  afterAll(async () => {
    await t?.stop();
  });

  it('refuses to drain an unknown node, or so many nodes that a keyspace has nowhere to go, with nothing changed', async () => {
    const unknown = await runCli(['drain', 'node-9'], cliEnv);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/No data node "node-9" is known.*\(NODE_NOT_FOUND\)/);
    const tooFew = await runCli(['drain', 'node-1'], cliEnv);
    expect(tooFew.code).toBe(1);
    expect(tooFew.stderr).toMatch(/would leave 2 live data node\(s\).*replication factor 3.*\(FAILED_PRECONDITION\)/);
    const s = await t.client.clusterStatus();
    expect(s.nodes.some((n) => n.draining)).toBe(false);
    expect((await runCli(['rebalance', '--dry-run'], cliEnv)).stdout).toMatch(/^Nothing to move/);
  });

  it('moves replicas onto a node that joins until every node holds 6 of the 24 and leads 2, each replica once and seeded by a snapshot, losing no acknowledged write', async () => {
    const load = startUniqueWrites(t.client, 'grow', 8);
    await eventually('some writes acknowledged', 10_000, async () => load.acknowledgedCount() > 50);
    const startedMs = Date.now();
    await t.cluster.addDataNode();
    const final = await eventually('replicas balanced over four nodes', 120_000, async () => {
      const s = await t.client.clusterStatus();
      const { counts, leaders, done } = settled(s);
      return done && counts.size === 4 && [...counts.values()].every((c) => c === 6) && [...leaders.values()].every((c) => c === 2) ? counts : undefined;
    });
    const tookMs = Date.now() - startedMs;
    const result = await load.stop();
    const lost = await verifyAcknowledged(t.client, result);
    const moves = await t.client.listMoves();
    const done = moves.recent.filter((m) => m.target === 'node-4');
    const seeded = new Set(logLines(t, 'node-4', 'Installed a snapshot').map((l) => l['partitionId']));
    console.log(
      `grow 3 -> 4: ${done.length} moves in ${tookMs} ms (${moves.recent.length} in all), node-4 seeded by snapshots of ${seeded.size} partitions, counts ${JSON.stringify(Object.fromEntries(final))}; ` +
        `${result.acknowledged.size} writes acknowledged, ${result.ambiguous.size} ambiguous, ${result.failed} failed ${JSON.stringify(Object.fromEntries(result.failureCodes))}; lost ${lost.length}`,
    );
    expect(lost).toEqual([]);
    expect(done).toHaveLength(6);
    // No replica moved between the three old nodes on the way.
    expect(moves.recent).toHaveLength(6);
    for (const m of done) expect(seeded.has(m.partitionId)).toBe(true);
    expect(done.every((m) => m.outcome === '' && m.reason === 'balance')).toBe(true);
    const cli = await runCli(['moves'], cliEnv);
    expect(cli.stdout).toMatch(/^No moves in flight$/m);
    expect(cli.stdout).toMatch(/^default\/\d+\s+node-\d\s+node-4\s+done\s+balance\s+[\d.]+s\s+-$/m);
  }, 180_000);

  it('drains a node with quire drain --wait under load; once stopped it is forgotten, and no acknowledged write is lost', async () => {
    const load = startUniqueWrites(t.client, 'shrink', 8);
    await eventually('some writes acknowledged', 10_000, async () => load.acknowledgedCount() > 50);
    const drained = await runCli(['drain', 'node-1', '--wait', '--timeout-ms', '5000'], cliEnv);
    expect(drained.stderr).toMatch(/node-1: \d+ of 6 replica\(s\) left/);
    expect(drained.stdout).toMatch(/^OK node-1 is drained \([\d.]+s\): it holds no replica and may be stopped$/m);
    expect(drained.code).toBe(0);
    const status = await t.client.clusterStatus();
    expect(status.nodes.find((n) => n.nodeId === 'node-1')).toMatchObject({ draining: true, replicaCount: 0, leaderCount: 0 });
    for (const p of status.keyspaces[0]?.partitions ?? []) expect(p.replicas).toHaveLength(3);
    // Still listed and still draining while stopped: a drained node that restarts stays drained.
    const live = await runCli(['forget', 'node-1'], cliEnv);
    expect(live).toMatchObject({ code: 1 });
    expect(live.stderr).toMatch(/Data node node-1 is running \(it holds a registration\): drain it .* and stop it first.*\(FAILED_PRECONDITION\)/);
    await t.cluster.removeDataNode('node-1');
    await eventually('node-1 gone from the registrations', 30_000, async () => ((await t.client.clusterStatus()).nodes.find((n) => n.nodeId === 'node-1')?.live === false ? true : undefined));
    expect((await t.client.clusterStatus()).nodes.find((n) => n.nodeId === 'node-1')).toMatchObject({ draining: true, replicaCount: 0 });
    expect(await runCli(['forget', 'node-1'], cliEnv)).toMatchObject({ code: 0, stdout: 'OK node-1 forgotten\n' });
    expect((await t.client.clusterStatus()).nodes.some((n) => n.nodeId === 'node-1')).toBe(false);
    const final = await eventually('three nodes with 8 replicas each', 60_000, async () => {
      const { counts, done } = settled(await t.client.clusterStatus());
      return done && [...counts.values()].every((c) => c === 8) ? counts : undefined;
    });
    const result = await load.stop();
    const lost = await verifyAcknowledged(t.client, result);
    console.log(
      `drain node-1: counts ${JSON.stringify(Object.fromEntries(final))}; ${result.acknowledged.size} writes acknowledged, ${result.ambiguous.size} ambiguous, ` +
        `${result.failed} failed ${JSON.stringify(Object.fromEntries(result.failureCodes))}; lost ${lost.length}`,
    );
    expect(lost).toEqual([]);
    expect((await runCli(['undrain', 'node-2'], cliEnv)).stdout).toMatch(/^OK node-2 was not draining; nothing changed$/m);
  }, 180_000);
});
