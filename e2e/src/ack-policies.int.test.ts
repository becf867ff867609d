/**
 * Ack policies per keyspace (RFC 0001 "Ack policies and what each loses"), on real processes:
 * three data nodes, replication 3, one coordinator, a router, real etcd; one cluster per
 * policy. Each test names the behaviour it proves and logs its figures:
 *  - async: writes are acknowledged with the partition's followers killed, at once and after
 *    the ISR shrank to the leader alone (sync would refuse them below min ISR 2);
 *  - async: a leader killed with kill -9 under load fails over; the acknowledged writes lost
 *    are counted (not asserted: async loses what only the leader had); a leader killed right
 *    after acknowledging writes no follower had (its followers cutting its streams through
 *    the datanode.replication.breakStreams failpoint — a SIGSTOPped follower would still get
 *    them from its socket buffer) comes back, is re-seeded by a snapshot instead of truncating
 *    applied entries in place (RFC invariant 6), and every replica of every partition ends with
 *    identical contents;
 *  - semi-sync: leader kill -9 under load, also with one follower cut off from the leader's
 *    streams before the kill, loses no acknowledged write; with both followers killed, writes
 *    are refused with PARTITION_UNAVAILABLE naming the ISR and resume when one follower returns;
 *  - the median put latency of each policy on the same cluster shape (logged, not asserted).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AckPolicy } from '@quire/proto';
import { QuireClient } from '@quire/client';
import { isQuireError, loadHashPartitioner } from '@quire/common';
import { armFailpoints } from './harness/failpoints.js';
import { logLines } from './harness/log-lines.js';
import { fullyInSync, partitionInfos, replicaDigests } from './harness/partitions.js';
import { startTestCluster, eventually, type TestCluster, type TestClusterOptions } from './harness/test-cluster.js';
import { startUniqueWrites, verifyAcknowledged, type WriteLoad } from './workloads/unique-writes.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const partitions = 6;
const nodeIds = ['node-1', 'node-2', 'node-3'];
const reseedMessage = "The leader's log lacks entries this replica applied or acknowledged; asking for a re-seed from a snapshot";
/** Median put latency per policy, logged together by the last describe. */
const medianPutMs = new Map<string, number>();

/** A cluster for one policy, its data nodes' failpoints armable at runtime (datanode.replication.breakStreams). */
function clusterOptions(ackPolicy: 'sync' | 'semi-sync' | 'async'): TestClusterOptions {
  return { replicationFactor: 3, partitions, nodeLeaseTtlSeconds: 1, ackPolicy, extraArgs: { datanode: ['--failpoints-admin'] } };
}

/** Makes the followers `nodeIds` cut (on) or take again (off) every replication stream from their leaders. */
async function breakStreams(t: TestCluster, followers: readonly string[], on: boolean): Promise<void> {
  await Promise.all(followers.map((n) => armFailpoints(t.cluster.process(n).spec.address, `datanode.replication.breakStreams=${on ? 'true' : 'off'}`)));
}

function quantile(sorted: readonly number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)] ?? Number.NaN;
}

/** Puts `count` keys one at a time (one in flight) and returns the median latency in ms. */
async function medianPutLatencyMs(client: QuireClient, prefix: string, count: number): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < count; i++) {
    const started = performance.now();
    await client.put(`${prefix}/${i}`, `v${i}`);
    times.push(performance.now() - started);
  }
  return quantile(times.sort((a, b) => a - b), 0.5);
}

/** Writers putting unique keys of the `wanted` partitions only (startUniqueWrites). */
async function startPartitionWrites(client: QuireClient, prefix: string, wanted: ReadonlySet<number>, writers: number): Promise<WriteLoad> {
  const partitioner = await loadHashPartitioner();
  return startUniqueWrites(client, prefix, writers, (key) => wanted.has(partitioner.partitionOf(Buffer.from(key), partitions)));
}

/** Waits until no partition is led by `nodeId` any more (failover done). */
async function failedOver(t: TestCluster, nodeId: string, timeoutMs: number): Promise<void> {
  await eventually(`every partition led by a node other than ${nodeId}`, timeoutMs, async () => (await partitionInfos(t)).every((p) => p.leader !== '' && p.leader !== nodeId && p.leaderLive));
}

/** Compares every replica's contents, partition by partition; returns the partitions whose replicas differ. */
async function divergentPartitions(t: TestCluster): Promise<{ differing: number[]; keys: number }> {
  const digests = await replicaDigests(t, partitions, nodeIds);
  const differing: number[] = [];
  let keys = 0;
  for (let p = 0; p < partitions; p++) {
    const perNode = nodeIds.map((n) => digests.get(n)?.[p]);
    keys += perNode[0]?.keys ?? 0;
    if (new Set(perNode.map((d) => `${d?.keys}:${d?.sha256}`)).size !== 1) differing.push(p);
  }
  return { differing, keys };
}

describe('ack policy async (leader only)', () => {
  let t: TestCluster;
  beforeAll(async () => {
    t = await startTestCluster('ack-async', clusterOptions('async'));
    await eventually('every partition in sync', 30_000, () => fullyInSync(t, partitions));
  });
  afterAll(async () => {
    await t?.stop();
  });

  it('reports async in the cluster status, and its median put latency (one write in flight)', async () => {
    const status = await t.client.clusterStatus();
    expect(status.keyspaces.find((k) => k.keyspace === 'default')?.ackPolicy).toBe(AckPolicy.ACK_POLICY_ASYNC);
    const medianMs = await medianPutLatencyMs(t.client, 'latency-async', 400);
    medianPutMs.set('async', medianMs);
    console.log(`async: median put latency ${medianMs.toFixed(2)} ms (400 sequential puts, replication 3)`);
  });

  it('acknowledges writes with only the leader alive: the followers killed, at once and after the ISR shrank to the leader', async () => {
    const leaderId = 'node-1';
    const led = new Set((await partitionInfos(t)).filter((p) => p.leader === leaderId).map((p) => p.partitionId));
    expect(led.size).toBeGreaterThan(0);
    const load = await startPartitionWrites(t.client, 'async-alone', led, 16);
    await eventually('writes', 30_000, async () => load.acknowledgedCount() > 300);
    const followers = nodeIds.filter((n) => n !== leaderId).map((n) => t.cluster.process(n));
    const killedAt = Date.now();
    for (const f of followers) f.kill('SIGKILL');
    await Promise.all(followers.map((f) => f.exited));
    const atKill = load.acknowledgedCount();
    // Right after the kill, before anything noticed: acknowledged without waiting for a follower.
    await sleep(500);
    const inFirst500Ms = load.acknowledgedCount() - atKill;
    // Once the leases expired every partition is led by node-1 alone (failed over if needed).
    await eventually('every ISR down to node-1', 30_000, async () => (await partitionInfos(t)).every((p) => p.leader === leaderId && p.isr.join(',') === leaderId));
    const shrunkMs = Date.now() - killedAt;
    const atShrink = load.acknowledgedCount();
    await sleep(1_000);
    const afterShrink = load.acknowledgedCount() - atShrink;
    const restartedAt = Date.now();
    for (const f of followers) f.start();
    // Under load: async acknowledges at the leader's own log end, which a follower must reach to rejoin.
    await eventually('the followers to rejoin every ISR under load', 60_000, () => fullyInSync(t, partitions));
    const rejoinMs = Date.now() - restartedAt;
    const result = await load.stop();
    const lost = await verifyAcknowledged(t.client, result);
    console.log(
      `async, followers killed: ${inFirst500Ms} writes acknowledged in the 500 ms after the kill, ${afterShrink} in the 1 s after the ISR shrank to [${leaderId}] (${shrunkMs} ms after the kill); restarted, back in every ISR under load after ${rejoinMs} ms; ` +
        `acknowledged ${result.acknowledged.size}, ambiguous ${result.ambiguous.size}, failed ${result.failed}, lost ${lost.length}; failure codes ${JSON.stringify(Object.fromEntries(result.failureCodes))}`,
    );
    expect(inFirst500Ms).toBeGreaterThan(0);
    expect(afterShrink).toBeGreaterThan(0);
    // Its leader never failed: nothing acknowledged may be lost.
    expect(lost).toEqual([]);
  });

  it('leader kill -9 under load fails over (acknowledged writes lost are counted); the old leader is re-seeded by a snapshot and every replica converges to identical contents', async () => {
    // Round 1: a plain kill under load.
    const victimId = 'node-1';
    const victim = t.cluster.process(victimId);
    let load = startUniqueWrites(t.client, 'async-kill', 32);
    await eventually('writes', 30_000, async () => load.acknowledgedCount() > 1_000);
    victim.kill('SIGKILL');
    await victim.exited;
    await failedOver(t, victimId, 30_000);
    await sleep(500);
    let result = await load.stop();
    const lostPlain = await verifyAcknowledged(t.client, result);
    const reseedsBefore = logLines(t, victimId, reseedMessage).length;
    victim.start();
    await eventually(`${victimId} to rejoin every ISR`, 60_000, () => fullyInSync(t, partitions));
    const reseedsPlain = logLines(t, victimId, reseedMessage).length - reseedsBefore;
    console.log(
      `async, leader kill -9 under 32 writers: acknowledged ${result.acknowledged.size}, ambiguous ${result.ambiguous.size}, failed ${result.failed}, ` +
        `LOST ${lostPlain.length} acknowledged writes; re-seeds of the old leader after its restart ${reseedsPlain}`,
    );

    // Round 2: the leader acknowledges writes its followers never get (they cut its streams
    // for 400 ms, less than the 2 s lag time, so they stay in the ISR), then dies. The writers
    // stop just before the kill, so the new leaders' logs end below what the old leader applied:
    // it passes their prev check at their log end, and only the floor-epoch rule (the new leader
    // must prove it holds the applied entries) stops it keeping writes nobody else has.
    const leaderOf = await partitionInfos(t);
    const victim2Id = leaderOf.find((p) => p.leader !== '')?.leader as string;
    const victim2 = t.cluster.process(victim2Id);
    const led = leaderOf.filter((p) => p.leader === victim2Id).map((p) => p.partitionId);
    const deaf = nodeIds.filter((n) => n !== victim2Id);
    load = startUniqueWrites(t.client, 'async-kill-alone', 32);
    await eventually('writes', 30_000, async () => load.acknowledgedCount() > 1_000);
    await breakStreams(t, deaf, true);
    const atDeaf = load.acknowledgedCount();
    await sleep(400);
    result = await load.stop();
    const acknowledgedAlone = result.acknowledged.size - atDeaf;
    victim2.kill('SIGKILL');
    await victim2.exited;
    await breakStreams(t, deaf, false);
    await failedOver(t, victim2Id, 30_000);
    const lostPaused = await verifyAcknowledged(t.client, result);
    const reseedsBefore2 = logLines(t, victim2Id, reseedMessage).length;
    const installsBefore2 = logLines(t, victim2Id, 'Installed a snapshot').length;
    victim2.start();
    await eventually(`${victim2Id} to rejoin every ISR`, 60_000, () => fullyInSync(t, partitions));
    const reseeded = logLines(t, victim2Id, reseedMessage).slice(reseedsBefore2);
    const installs = logLines(t, victim2Id, 'Installed a snapshot').length - installsBefore2;
    const reseededPartitions = [...new Set(reseeded.map((m) => Number(m['partitionId'])))].sort((a, b) => a - b);

    // Every replica of every partition holds the same contents (read from each in turn).
    const { differing, keys } = await divergentPartitions(t);
    console.log(
      `async, leader ${victim2Id} kill -9 after acknowledging alone for 400 ms (${acknowledgedAlone} writes; its followers cut off from it): acknowledged ${result.acknowledged.size}, ` +
        `ambiguous ${result.ambiguous.size}, failed ${result.failed}, LOST ${lostPaused.length} acknowledged writes; partitions it led [${led.join(', ')}], ` +
        `re-seeded by a snapshot after its restart [${reseededPartitions.join(', ')}] (${installs} snapshots installed); ` +
        `replica contents compared on ${partitions} partitions × 3 replicas (${keys} keys): ${differing.length} partitions differ`,
    );
    expect(acknowledgedAlone).toBeGreaterThan(0);
    // It had applied writes the new leaders never had: not truncated in place but re-seeded.
    expect(reseededPartitions.length).toBeGreaterThan(0);
    for (const p of reseededPartitions) expect(led).toContain(p);
    expect(installs).toBeGreaterThanOrEqual(reseededPartitions.length);
    expect(differing).toEqual([]);
  });
});

describe('ack policy semi-sync (the leader and one ISR follower)', () => {
  let t: TestCluster;
  let probeClient: QuireClient;
  beforeAll(async () => {
    t = await startTestCluster('ack-semi-sync', clusterOptions('semi-sync'));
    probeClient = new QuireClient({ router: t.cluster.routerAddress, requestTimeoutMs: 1_000 });
    await eventually('every partition in sync', 30_000, () => fullyInSync(t, partitions));
  });
  afterAll(async () => {
    probeClient?.close();
    await t?.stop();
  });

  it('reports semi-sync in the cluster status, and its median put latency (one write in flight)', async () => {
    const status = await t.client.clusterStatus();
    expect(status.keyspaces.find((k) => k.keyspace === 'default')?.ackPolicy).toBe(AckPolicy.ACK_POLICY_SEMI_SYNC);
    const medianMs = await medianPutLatencyMs(t.client, 'latency-semi-sync', 400);
    medianPutMs.set('semi-sync', medianMs);
    console.log(`semi-sync: median put latency ${medianMs.toFixed(2)} ms (400 sequential puts, replication 3)`);
  });

  it('a leader kill -9 under load loses no acknowledged write, also when one follower was cut off from it before the kill', async () => {
    const figures: string[] = [];
    const lostAll: string[] = [];
    for (const oneDeaf of [false, true]) {
      const before = await partitionInfos(t);
      const victimId = before.find((p) => p.leader !== '')?.leader as string;
      const victim = t.cluster.process(victimId);
      // With one follower deaf: acknowledgements of the last 400 ms before the kill rest on the other alone.
      const deaf = oneDeaf ? (nodeIds.find((n) => n !== victimId) as string) : undefined;
      const load = startUniqueWrites(t.client, `semi-kill-${oneDeaf ? 'deaf' : 'plain'}`, 32);
      await eventually('writes', 30_000, async () => load.acknowledgedCount() > 1_000);
      if (deaf !== undefined) {
        await breakStreams(t, [deaf], true);
        await sleep(400);
      }
      victim.kill('SIGKILL');
      await victim.exited;
      if (deaf !== undefined) await breakStreams(t, [deaf], false);
      await failedOver(t, victimId, 30_000);
      await sleep(500);
      const result = await load.stop();
      const lost = await verifyAcknowledged(t.client, result);
      lostAll.push(...lost);
      victim.start();
      await eventually(`${victimId} to rejoin every ISR`, 60_000, () => fullyInSync(t, partitions));
      figures.push(
        `${deaf !== undefined ? `with ${deaf} cut off from the leader's streams for 400 ms before the kill` : 'plain'}: killed ${victimId}, acknowledged ${result.acknowledged.size}, ambiguous ${result.ambiguous.size}, failed ${result.failed}, lost ${lost.length}`,
      );
    }
    console.log(`semi-sync, leader kill -9 under 32 writers: ${figures.join('; ')}`);
    expect(lostAll).toEqual([]);
  });

  it('with both followers of a partition killed, writes are refused with PARTITION_UNAVAILABLE naming the ISR, nothing acknowledged is lost, and writes resume when one returns', async () => {
    const load = startUniqueWrites(t.client, 'semi-two-down', 32);
    await eventually('writes', 30_000, async () => load.acknowledgedCount() > 500);
    const [a, b] = [t.cluster.process('node-2'), t.cluster.process('node-3')];
    a.kill('SIGKILL');
    b.kill('SIGKILL');
    await Promise.all([a.exited, b.exited]);
    // Once failover and ISR shrinking settle, every partition is down to node-1: no follower in the ISR.
    const refusal = await eventually('writes to be refused with no follower in the ISR', 60_000, async () => {
      try {
        await probeClient.put('semi-two-down/probe', 'x');
        return false;
      } catch (err) {
        return isQuireError(err) && err.code === 'PARTITION_UNAVAILABLE' && /semi-sync/.test(err.message) && /\[node-1\]/.test(err.message) ? err : false;
      }
    });
    const downCount = load.acknowledgedCount();
    await sleep(1_000);
    const acknowledgedWhileDown = load.acknowledgedCount() - downCount;
    a.start();
    await eventually('writes to resume with node-2 back', 60_000, async () => load.acknowledgedCount() > downCount + 200);
    b.start();
    await eventually('every partition back in sync', 60_000, () => fullyInSync(t, partitions));
    const result = await load.stop();
    const lost = await verifyAcknowledged(t.client, result);
    console.log(
      `semi-sync, both followers down: refused with ${refusal.code} (${refusal.message}); acknowledged while no follower was in the ISR ${acknowledgedWhileDown}; ` +
        `acknowledged ${result.acknowledged.size}, ambiguous ${result.ambiguous.size}, failed ${result.failed}, lost ${lost.length}`,
    );
    expect(acknowledgedWhileDown).toBe(0);
    expect(lost).toEqual([]);
  });
});

describe('ack policy sync (every ISR member), for the latency comparison', () => {
  let t: TestCluster;
  beforeAll(async () => {
    t = await startTestCluster('ack-sync', clusterOptions('sync'));
    await eventually('every partition in sync', 30_000, () => fullyInSync(t, partitions));
  });
  afterAll(async () => {
    await t?.stop();
  });

  it('median put latency of sync next to semi-sync and async on the same cluster shape (logged, not asserted)', async () => {
    const status = await t.client.clusterStatus();
    expect(status.keyspaces.find((k) => k.keyspace === 'default')?.ackPolicy).toBe(AckPolicy.ACK_POLICY_SYNC);
    const medianMs = await medianPutLatencyMs(t.client, 'latency-sync', 400);
    medianPutMs.set('sync', medianMs);
    const line = ['sync', 'semi-sync', 'async'].map((p) => `${p} ${medianPutMs.get(p)?.toFixed(2) ?? 'n/a'} ms`).join(', ');
    console.log(`median put latency, 3 data nodes, replication 3, one write in flight, 400 puts each: ${line}`);
  });
});
