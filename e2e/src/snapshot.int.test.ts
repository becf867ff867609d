/**
 * Snapshots (RFC 0001 "Catch-up, snapshots and log truncation"; issue 4 item 6), on real
 * processes: three data nodes keeping only 200 log entries per partition, replication factor 3
 * with `sync`. A follower killed with kill -9 misses far more writes than the leaders keep, so
 * on its restart each leader finds the entries it needs truncated and sends InstallSnapshot; the
 * follower pulls a consistent snapshot (Replication.Snapshot), installs it, catches up from the
 * log and rejoins every ISR. What this proves:
 *  - the leaders' logs were truncated past the follower's log end while it was down;
 *  - it rejoins every ISR, and every replica's log end, durable and applied index converge;
 *  - nothing acknowledged is lost — read back through the leaders, and again with the restarted
 *    node leading every partition (so its snapshot-seeded data is what answers).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { logLines } from './harness/log-lines.js';
import { converged, fullyInSync, getLogEnd, nodeAddresses, partitionInfos, replicaStates } from './harness/partitions.js';
import { startTestCluster, eventually, type TestCluster } from './harness/test-cluster.js';
import { startUniqueWrites, verifyAcknowledged } from './workloads/unique-writes.js';

const partitions = 4;
const logRetainEntries = 200;
const keysWhileDown = 10_000;
const victimId = 'node-3';

/** Moves every partition `nodeId` leads to another ISR member. */
async function leadNothing(t: TestCluster, nodeId: string): Promise<void> {
  for (const p of await partitionInfos(t)) {
    if (p.leader !== nodeId) continue;
    const to = p.isr.find((n) => n !== nodeId) as string;
    await t.client.transferLeader(p.partitionId, { to });
  }
  await eventually(`${nodeId} to lead nothing, all in sync`, 30_000, async () => (await fullyInSync(t, partitions)) && (await partitionInfos(t)).every((p) => p.leader !== nodeId));
}

describe('snapshots: a follower behind the leaders’ truncated logs', () => {
  let t: TestCluster;
  beforeAll(async () => {
    t = await startTestCluster('snapshot', {
      replicationFactor: 3,
      partitions,
      coordinators: 1,
      nodeLeaseTtlSeconds: 1,
      extraArgs: { datanode: ['--log-retain-entries', String(logRetainEntries)] },
    });
    await eventually('every partition in sync', 30_000, () => fullyInSync(t, partitions));
  });
  afterAll(async () => {
    await t?.stop();
  });

  it('a follower killed with kill -9 is re-seeded from snapshots, rejoins every ISR, and nothing acknowledged is lost', async () => {
    // The victim only follows, so its death fails nothing over: the snapshot path alone.
    await leadNothing(t, victimId);
    const before = startUniqueWrites(t.client, 'snapshot-before', 16);
    await eventually('writes before the kill', 60_000, async () => before.acknowledgedCount() >= 500);
    const beforeResult = await before.stop();
    const nodes = await nodeAddresses(t);
    const victimAt = new Map<number, number>();
    for (let p = 0; p < partitions; p++) victimAt.set(p, (await getLogEnd(nodes.get(victimId) as string, p)).logEnd?.index ?? 0);

    const victim = t.cluster.process(victimId);
    victim.kill('SIGKILL');
    await victim.exited;
    const load = startUniqueWrites(t.client, 'snapshot-down', 64);
    await eventually(`${keysWhileDown} writes while ${victimId} is down`, 180_000, async () => load.acknowledgedCount() >= keysWhileDown);
    const result = await load.stop();

    // Every leader's log now starts far above what the victim holds: retention keeps
    // logRetainEntries entries and no ISR member holds it back for the victim.
    const leaders = await replicaStates(t, true);
    for (const l of leaders) {
      const logStartMin = (l.state.logEnd?.index ?? 0) - logRetainEntries + 1;
      expect(logStartMin, `partition ${l.partitionId}: leader log end ${l.state.logEnd?.index}, victim at ${victimAt.get(l.partitionId)}`).toBeGreaterThan((victimAt.get(l.partitionId) ?? 0) + 1);
    }

    const restartedAt = Date.now();
    victim.start();
    await t.cluster.waitReady(60_000);
    await eventually(`${victimId} to rejoin every ISR`, 120_000, () => fullyInSync(t, partitions));
    const rejoinMs = Date.now() - restartedAt;
    const states = await eventually('every replica to hold and apply the leader log', 60_000, () => converged(t));
    const lost = [...(await verifyAcknowledged(t.client, beforeResult)), ...(await verifyAcknowledged(t.client, result))];

    const installed = logLines(t, victimId, 'Installed a snapshot');
    const asked = leaders.map(
      (l) => logLines(t, l.nodeId, 'A follower needs entries this leader no longer holds; asking it to install a snapshot').filter((m) => m['follower'] === victimId && m['partitionId'] === l.partitionId).length,
    );
    const snapshotKeys = installed.reduce((n, m) => n + Number(m['keyCount']), 0);
    const snapshotBytes = installed.reduce((n, m) => n + Number(m['payloadBytes']), 0);
    const installMs = installed.map((m) => Number(m['durationMs']));

    // The restarted node leads every partition: its snapshot-seeded data answers the reads.
    for (const p of await partitionInfos(t)) if (p.leader !== victimId) await t.client.transferLeader(p.partitionId, { to: victimId });
    const lostOnVictim = [...(await verifyAcknowledged(t.client, beforeResult)), ...(await verifyAcknowledged(t.client, result))];

    console.log(
      `snapshot rejoin: ${result.acknowledged.size} keys acknowledged while ${victimId} was down (ambiguous ${result.ambiguous.size}, failed ${result.failed}), ` +
        `${beforeResult.acknowledged.size} before; leader logs keep ${logRetainEntries} entries, ends ${leaders.map((l) => `p${l.partitionId}:${l.state.logEnd?.index}`).join(' ')}, ` +
        `victim log ends before the kill ${[...victimAt].map(([p, i]) => `p${p}:${i}`).join(' ')}; ` +
        `${installed.length} snapshots installed (${snapshotKeys} keys, ${snapshotBytes} bytes, install ${installMs.join('/')} ms), snapshot mode entered per partition ${asked.join('/')}; ` +
        `back in every ISR ${rejoinMs} ms after the restart; replicas agree on ${states.filter((s) => s.leader).map((s) => s.state.logEnd?.index).join('/')}; ` +
        `lost ${lost.length}, lost reading from ${victimId} as leader ${lostOnVictim.length}`,
    );
    expect(installed.length).toBeGreaterThanOrEqual(partitions);
    expect(snapshotKeys).toBeGreaterThan(0);
    expect(lost).toEqual([]);
    expect(lostOnVictim).toEqual([]);
  });
});
