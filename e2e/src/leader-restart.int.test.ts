/**
 * A partition leader that restarts faster than its node lease expires (RFC 0001 "Sending ahead
 * of the leader's fsync"), on real processes: one coordinator, three data nodes with
 * replication factor 3 and `sync`, a router, real etcd, real LMDB files.
 *
 * Leaders send entries to their followers before their own fsync completes, so a leader killed
 * with kill -9 may have sent entries that it never made durable. With a 10 s node lease its
 * registration outlives the restart, so no failover happens: the restarted node finds itself
 * leading the same epoch it recorded before the crash. It must not lead that epoch again (its
 * new writes would reuse the indexes of the lost entries at the same epoch); it asks the
 * coordinator to renew its tenure at epoch + 1 first. The test proves the renewal happens, that
 * writes resume, and that nothing acknowledged is lost.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fullyInSync, partitionInfos } from './harness/partitions.js';
import { startTestCluster, eventually, type TestCluster } from './harness/test-cluster.js';
import { startUniqueWrites, verifyAcknowledged } from './workloads/unique-writes.js';

const partitions = 6;

describe('a leader restarted before its node lease expires', () => {
  let t: TestCluster;
  beforeAll(async () => {
    t = await startTestCluster('leader-restart', { replicationFactor: 3, partitions, coordinators: 1, nodeLeaseTtlSeconds: 10 });
    await eventually('every partition in sync', 30_000, () => fullyInSync(t, partitions));
  });
  afterAll(async () => {
    await t?.stop();
  });

  it('renews its tenure at epoch + 1 before serving the partitions it led, and nothing acknowledged is lost', async () => {
    const load = startUniqueWrites(t.client, 'leader-restart', 64);
    await eventually('writes', 30_000, async () => load.acknowledgedCount() > 2_000);
    const rounds = 2;
    const renewed: string[] = [];
    const resumeMs: number[] = [];
    for (let round = 0; round < rounds; round++) {
      const victimId = `node-${round + 1}`;
      const before = await partitionInfos(t);
      const led = before.filter((p) => p.leader === victimId);
      expect(led.length).toBeGreaterThan(0);
      const victim = t.cluster.process(victimId);
      const acknowledgedAtKill = load.acknowledgedCount();
      const killedAt = Date.now();
      victim.kill('SIGKILL');
      await victim.exited;
      victim.start();
      // Its registration never lapsed (10 s lease), so no failover: the same node leads each of
      // its partitions again, at a new epoch it asked for.
      const after = await eventually(`${victimId} to renew its tenures`, 30_000, async () => {
        const now = await partitionInfos(t);
        const mine = led.map((p) => now.find((q) => q.partitionId === p.partitionId));
        return mine.every((q, i) => q !== undefined && q.epoch > (led[i]?.epoch ?? 0) && q.leaderLive) ? now : undefined;
      });
      for (const p of led) {
        const q = after.find((a) => a.partitionId === p.partitionId);
        expect(q?.leader).toBe(victimId);
        expect(q?.epoch).toBe(p.epoch + 1);
        renewed.push(`p${p.partitionId} ${p.epoch}→${q?.epoch}`);
      }
      await eventually('writes to resume', 30_000, async () => load.acknowledgedCount() > acknowledgedAtKill + 500);
      resumeMs.push(Date.now() - killedAt);
      await eventually(`${victimId} to rejoin every ISR`, 60_000, () => fullyInSync(t, partitions));
    }
    const result = await load.stop();
    const lost = await verifyAcknowledged(t.client, result);
    console.log(
      `leader restarted within its lease: ${rounds} kill -9 + restarts, tenures renewed ${renewed.join(', ')}; ` +
        `500 more writes acknowledged ${resumeMs.join(', ')} ms after each kill; ` +
        `acknowledged ${result.acknowledged.size}, ambiguous ${result.ambiguous.size}, failed ${result.failed}, lost ${lost.length}; ` +
        `failure codes ${JSON.stringify(Object.fromEntries(result.failureCodes))}`,
    );
    expect(lost).toEqual([]);
  });
});
